// sanstls/boringssl.hpp: the native BoringSSL handles behind a Context or an
// Object, for settings sanstls does not wrap. The only public header that
// includes BoringSSL; compile with BoringSSL's include folder (pkg-config
// --cflags sanstls gives it).
//
// Example:
//   sanstls::Context ctx(sanstls::Protocol::tls_server);
//   SSL_CTX* native = sanstls::native_handle(ctx);
//   SSL_CTX_set_grease_enabled(native, 1);
//   X509_STORE_set_depth(sanstls::native_cert_store(ctx), 4);
//
// Changing what sanstls itself manages (BIOs, verify mode, ALPN callbacks,
// options, versions) through these handles makes the sanstls getters wrong
// and is not supported.
//
// Threads: the handles follow the rules of what they belong to. Native
// settings of an SSL_CTX, and changes to the trust store (certificates
// added, a lookup method), are configuration, made before the Context is
// shared (context.hpp). An SSL belongs to its Object: only the thread using
// the Object may use it, and only between the Object's calls.
//
// Every SSL_CTX sanstls makes uses TLS_with_buffers_method(): certificates
// are CRYPTO_BUFFERs (SSL_get0_peer_certificates, SSL_CTX_set_chain_and_key)
// and sanstls verifies the peer itself, so BoringSSL's X509-based functions
// on these handles (SSL_CTX_get_cert_store, SSL_CTX_get0_param,
// SSL_get_peer_certificate, SSL_CTX_use_certificate, SSL_CTX_set_verify,
// ...) are not available. The trust store is native_cert_store's.
//
// Once a TLS 1.3 connection is established, sanstls seals and opens its
// records itself, with keys it takes from BoringSSL, and shuts BoringSSL's
// record layer: SSL_read, SSL_write, SSL_shutdown and SSL_key_update on
// the handle then do nothing (SSL_get_shutdown reports both directions
// shut). Use the Object's calls (Object::key_update for a KeyUpdate).
// SSL_get_read_sequence, SSL_get_write_sequence and
// SSL_get_traffic_secrets keep the values of the hand-over. A connection
// whose Context has a message callback keeps BoringSSL's record layer.
#ifndef SANSTLS_BORINGSSL_HPP
#define SANSTLS_BORINGSSL_HPP

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sanstls/context.hpp>
#include <sanstls/object.hpp>

namespace sanstls {

// native_handle returns the SSL_CTX shared by every copy of |context|. It
// lives as long as any copy of the context or any Object made from it.
SSL_CTX* native_handle(const Context& context) noexcept;

// native_handle returns the SSL behind |object|, valid while |object| lives.
SSL* native_handle(const Object& object) noexcept;

// native_cert_store returns the trust store |context| verifies peers
// against (what load_verify_locations fills), shared by every copy of the
// context, for what sanstls does not wrap: X509_STORE_set_depth, a lookup
// method of one's own. Same lifetime as native_handle(context).
X509_STORE* native_cert_store(const Context& context) noexcept;

}  // namespace sanstls

#endif  // SANSTLS_BORINGSSL_HPP
