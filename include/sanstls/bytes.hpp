// sanstls/bytes.hpp: views between text and bytes. sanstls takes
// std::span<const std::byte> and returns owned bytes in std::string (as
// Python returns bytes); these two helpers cross between the two for free.
//
// Example:
//   std::string_view text = "hello";
//   std::span<const std::byte> bytes = sanstls::as_bytes(text);
//   std::string_view back = sanstls::as_string_view(bytes);  // "hello"
//   (void)back;
#ifndef SANSTLS_BYTES_HPP
#define SANSTLS_BYTES_HPP

#include <cstddef>
#include <span>
#include <string_view>

namespace sanstls {

// as_bytes views the characters of |text| as bytes.
inline std::span<const std::byte> as_bytes(std::string_view text) noexcept {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

// as_string_view views |bytes| as characters.
inline std::string_view as_string_view(std::span<const std::byte> bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace sanstls

#endif  // SANSTLS_BYTES_HPP
