// sanstls/boringssl.hpp: the native BoringSSL handles behind a Context or an
// Object, for settings sanstls does not wrap. The only public header that
// includes BoringSSL; compile with BoringSSL's include folder (pkg-config
// --cflags sanstls gives it).
//
// Example:
//   sanstls::Context ctx(sanstls::Protocol::tls_server);
//   SSL_CTX* native = sanstls::native_handle(ctx);
//   SSL_CTX_set_grease_enabled(native, 1);
//
// Changing what sanstls itself manages (BIOs, verify mode, ALPN callbacks,
// options, versions) through these handles makes the sanstls getters wrong
// and is not supported.
#ifndef SANSTLS_BORINGSSL_HPP
#define SANSTLS_BORINGSSL_HPP

#include <openssl/ssl.h>

#include <sanstls/context.hpp>
#include <sanstls/object.hpp>

namespace sanstls {

// native_handle returns the SSL_CTX shared by every copy of |context|. It
// lives as long as any copy of the context or any Object made from it.
SSL_CTX* native_handle(const Context& context) noexcept;

// native_handle returns the SSL behind |object|, valid while |object| lives.
SSL* native_handle(const Object& object) noexcept;

}  // namespace sanstls

#endif  // SANSTLS_BORINGSSL_HPP
