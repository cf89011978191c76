// bench/peers/asio_ssl/asio_ssl_impl.hpp: asio::ssl::stream as an
// implementation of the loopback scenarios (bench/asio_load.hpp), set up
// the way an asio user would: asio::ssl::context, verify_peer with the
// bench's CA, host_name_verification("localhost") and SNI on the client.
//
// The same source builds against two libraries: OpenSSL 3 in
// asio-ssl-peer (the comparison the bench reports as asio_ssl=), and
// BoringSSL in sanstls-bench, where it is the baseline= of the asio_
// scenarios: asio::ssl on the very BoringSSL sanstls runs on, so that what
// is left between the two is the binding, not the crypto library.
//
// Settings that a user would not write but the comparison needs, on both
// libraries: no session tickets and no session cache (as sanstls's side,
// every handshake full), and on OpenSSL TLS_AES_128_GCM_SHA256 preferred
// (OpenSSL picks AES-256-GCM first; BoringSSL, and so sanstls, AES-128-GCM
// on a CPU with AES instructions).
#ifndef SANSTLS_BENCH_PEERS_ASIO_SSL_IMPL_HPP
#define SANSTLS_BENCH_PEERS_ASIO_SSL_IMPL_HPP

#include <stdexcept>
#include <string>
#include <system_error>

#include <asio/ssl.hpp>

#include "../../asio_load.hpp"

namespace bench::asio_load {

// Pem is the credentials, as PEM text: the CA the client trusts, the
// server's certificate and key, and the other key type's CA (which a
// client must refuse the server under).
struct Pem {
  std::string ca;
  std::string cert;
  std::string key;
  std::string other_ca;
};

class AsioSsl {
 public:
  using Stream = asio::ssl::stream<tcp::socket>;
  static constexpr auto client_role = asio::ssl::stream_base::client;
  static constexpr auto server_role = asio::ssl::stream_base::server;

  explicit AsioSsl(const Pem& pem)
      : client_(asio::ssl::context::tls_client),
        other_ca_(asio::ssl::context::tls_client),
        server_(asio::ssl::context::tls_server) {
    for (asio::ssl::context* ctx : {&client_, &other_ca_, &server_}) configure(*ctx);
    client_.set_verify_mode(asio::ssl::verify_peer);
    client_.add_certificate_authority(asio::buffer(pem.ca));
    other_ca_.set_verify_mode(asio::ssl::verify_peer);
    other_ca_.add_certificate_authority(asio::buffer(pem.other_ca));
    server_.use_certificate_chain(asio::buffer(pem.cert));
    server_.use_private_key(asio::buffer(pem.key), asio::ssl::context::pem);
  }

  asio::ssl::context& client_context(ClientKind kind) {
    return kind == ClientKind::other_ca ? other_ca_ : client_;
  }
  asio::ssl::context& server_context() { return server_; }

  // prepare_client sends the name (SNI) and verifies the certificate for
  // it, as asio's documentation shows.
  static void prepare_client(Stream& stream, ClientKind kind) {
    const char* name = kind == ClientKind::wrong_name ? "wrong.example" : "localhost";
#ifdef OPENSSL_IS_BORINGSSL
    const long set = SSL_set_tlsext_host_name(stream.native_handle(), name);
#else
    // OpenSSL's SSL_set_tlsext_host_name is a macro with a C cast.
    const long set = SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                              const_cast<char*>(name));
#endif
    if (set != 1) throw std::runtime_error("asio::ssl: cannot set the server name");
    stream.set_verify_callback(asio::ssl::host_name_verification(name));
  }

  // describe says what |client| negotiated: version, cipher suite, group,
  // and whether it holds a ticket (it must not).
  static std::string describe(Stream& client) {
    SSL* ssl = client.native_handle();
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
#ifdef OPENSSL_IS_BORINGSSL
    const char* group = SSL_get_curve_name(SSL_get_curve_id(ssl));
#else
    const char* group = OBJ_nid2sn(static_cast<int>(SSL_get_negotiated_group(ssl)));
#endif
    const SSL_SESSION* session = SSL_get_session(ssl);
    return std::string(SSL_get_version(ssl)) + " " +
           (cipher != nullptr ? SSL_CIPHER_standard_name(cipher) : "(no cipher)") + " " +
           (group != nullptr ? group : "(no group)") +
           (session != nullptr && SSL_SESSION_is_resumable(session) ? ", a ticket" : ", no ticket");
  }

  // explain says why |client|'s handshake failed with |ec|.
  static std::string explain(Stream& client, std::error_code ec) {
    const long verify = SSL_get_verify_result(client.native_handle());
    return ec.message() + (verify != X509_V_OK ? std::string(": ") + X509_verify_cert_error_string(verify) : "");
  }

  // library names the TLS library this was built with.
  static std::string library() {
#ifdef OPENSSL_IS_BORINGSSL
    return "BoringSSL";
#else
    return OpenSSL_version(OPENSSL_VERSION);
#endif
  }

 private:
  static void configure(asio::ssl::context& ctx) {
    SSL_CTX* native = ctx.native_handle();
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    // OpenSSL's TLS 1.3 server sends stateful tickets under
    // SSL_OP_NO_TICKET; none at all only with zero.
    if (SSL_CTX_set_num_tickets(native, 0) != 1) throw std::runtime_error("asio::ssl: SSL_CTX_set_num_tickets");
#ifndef OPENSSL_IS_BORINGSSL
    if (SSL_CTX_set_ciphersuites(native, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) {
      throw std::runtime_error("asio::ssl: SSL_CTX_set_ciphersuites");
    }
#endif
  }

  asio::ssl::context client_;
  asio::ssl::context other_ca_;
  asio::ssl::context server_;
};

}  // namespace bench::asio_load

#endif  // SANSTLS_BENCH_PEERS_ASIO_SSL_IMPL_HPP
