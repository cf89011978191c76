// Channel binding (RFC 5929 tls-unique, RFC 9266 tls-exporter) and
// keying-material export (RFC 5705): what an Object derives from its
// connection's secrets for the application.
#include <sanstls/object.hpp>

#include <openssl/digest.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "internal.hpp"

namespace sanstls {

namespace {

// RFC 9266 section 2.
constexpr std::string_view kExporterLabel = "EXPORTER-Channel-Binding";
constexpr std::size_t kExporterLength = 32;

}  // namespace

std::optional<std::string> Object::get_channel_binding(std::string_view cb_type) const {
  SSL* ssl = ObjectAccess::native(*this);
  if (cb_type == "tls-unique") {
    // RFC 8446 section C.5: TLS 1.3 has no tls-unique.
    if (!is_handshake_complete() || SSL_version(ssl) >= TLS1_3_VERSION) return std::nullopt;
    ErrorGuard guard;
    std::uint8_t buf[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    // BoringSSL also refuses a resumption without extended master secret
    // (the triple handshake attack).
    if (!SSL_get_tls_unique(ssl, buf, &len, sizeof buf) || len == 0) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(buf), len);
  }
  if (cb_type == "tls-exporter") {
    if (!is_handshake_complete()) return std::nullopt;
    // RFC 9266 section 3: TLS 1.2 only with extended master secret
    // (SSL_get_extms_support is also true for TLS 1.3).
    if (!SSL_get_extms_support(ssl)) return std::nullopt;
    ErrorGuard guard;
    std::string out(kExporterLength, '\0');
    if (!SSL_export_keying_material(ssl, reinterpret_cast<std::uint8_t*>(out.data()), out.size(),
                                    kExporterLabel.data(), kExporterLabel.size(), nullptr, 0, 1)) {
      throw_from_queue("cannot derive the tls-exporter channel binding");
    }
    return out;
  }
  throw std::invalid_argument("'" + std::string(cb_type) +
                              "' channel binding type not implemented");
}

std::string Object::export_keying_material(std::string_view label,
                                           std::optional<std::span<const std::byte>> context,
                                           std::size_t length) const {
  if (!is_handshake_complete()) {
    throw std::logic_error("export_keying_material needs a completed handshake");
  }
  SSL* ssl = ObjectAccess::native(*this);
  ErrorGuard guard;
  std::string out(length, '\0');
  const auto* context_bytes =
      context ? reinterpret_cast<const std::uint8_t*>(context->data()) : nullptr;
  if (!SSL_export_keying_material(ssl, reinterpret_cast<std::uint8_t*>(out.data()), out.size(),
                                  label.data(), label.size(), context_bytes,
                                  context ? context->size() : 0, context ? 1 : 0)) {
    throw_from_queue("cannot export keying material");
  }
  return out;
}

}  // namespace sanstls
