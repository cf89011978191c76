// bench/bench.cpp: see bench.hpp.
#include "bench.hpp"

#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

namespace bench {

const Credentials& credentials(sanstls::testing::KeyType type) {
  static std::map<sanstls::testing::KeyType, Credentials> made;
  auto it = made.find(type);
  if (it != made.end()) return it->second;
  auto ca = sanstls::testing::CertificateAuthority::create("sanstls bench CA", type);
  sanstls::testing::Issued leaf = ca.issue({.common_name = kServerName,
                                            .dns_names = {kServerName},
                                            .key_type = type});
  Credentials c{ca.certificate_pem(), leaf.certificate_pem, leaf.private_key_pem};
  return made.emplace(type, std::move(c)).first->second;
}

const Credentials& credentials_for(const Settings& settings) {
  if (!settings.chain3) return credentials(settings.key_type);
  static const Credentials chain = [] {
    using sanstls::testing::KeyType;
    auto root = sanstls::testing::CertificateAuthority::create("sanstls bench Root CA", KeyType::rsa2048);
    auto upper = root.intermediate("sanstls bench Intermediate CA G2", KeyType::rsa2048);
    auto issuing = upper.intermediate("sanstls bench TLS Issuing CA R3", KeyType::rsa2048);
    std::vector<std::string> names{kServerName};
    for (const char* name : {"www", "api", "cdn", "static", "mail", "shop", "img", "auth", "m"}) {
      names.push_back(std::string(name) + ".bench.sanstls.example");
    }
    sanstls::testing::Issued leaf = issuing.issue({.common_name = kServerName,
                                                   .organization = "sanstls bench",
                                                   .dns_names = names,
                                                   .key_type = KeyType::rsa2048});
    return Credentials{root.certificate_pem(),
                       leaf.certificate_pem + issuing.certificate_pem() + upper.certificate_pem(),
                       leaf.private_key_pem};
  }();
  return chain;
}

namespace pattern {
namespace {

const std::vector<std::byte>& buffer() {
  static const std::vector<std::byte> bytes = [] {
    std::vector<std::byte> b(kPeriod + kMaxWrite);
    std::uint64_t x = 0x9E3779B97F4A7C15ull;  // xorshift: cheap, not compressible
    for (std::size_t i = 0; i < kPeriod; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b[i] = static_cast<std::byte>(x >> 56);
    }
    for (std::size_t i = kPeriod; i < b.size(); ++i) b[i] = b[i - kPeriod];
    return b;
  }();
  return bytes;
}

}  // namespace

std::span<const std::byte> at(std::uint64_t pos, std::size_t n) noexcept {
  return {buffer().data() + pos % kPeriod, n};
}

}  // namespace pattern

void Receiver::take(std::span<const std::byte> bytes) {
  if (verify_) {
    std::span<const std::byte> expected = pattern::at(received_, bytes.size());
    if (std::memcmp(bytes.data(), expected.data(), bytes.size()) != 0) {
      fail("received bytes differ from the sent ones at stream offset " +
           std::to_string(received_));
    }
  }
  received_ += bytes.size();
}

}  // namespace bench
