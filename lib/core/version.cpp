#include <sanstls/version.hpp>

#include <openssl/crypto.h>

namespace sanstls {

static_assert(boringssl_api_version() == BORINGSSL_API_VERSION,
              "version.hpp was generated from other BoringSSL headers than the ones compiled against");

std::string_view openssl_version() noexcept { return OpenSSL_version(OPENSSL_VERSION); }

}  // namespace sanstls
