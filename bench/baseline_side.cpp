// bench/baseline_side.cpp: see baseline_side.hpp.
#include "baseline_side.hpp"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include <zlib.h>

namespace bench {

namespace {

// The settings sanstls::Context applies by default (Python 3.7's), so the
// baseline does exactly the same work.
constexpr const char* kDefaultCipherString =
    "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK";
constexpr uint16_t kVerifyAlgorithms[] = {
    SSL_SIGN_ED25519,
    SSL_SIGN_ECDSA_SECP256R1_SHA256, SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256,
    SSL_SIGN_ECDSA_SECP384R1_SHA384, SSL_SIGN_RSA_PSS_RSAE_SHA384, SSL_SIGN_RSA_PKCS1_SHA384,
    SSL_SIGN_RSA_PSS_RSAE_SHA512, SSL_SIGN_RSA_PKCS1_SHA512, SSL_SIGN_RSA_PKCS1_SHA1,
};
constexpr unsigned char kSessionContext[] = "sanstls";

[[noreturn]] void fail_ssl(const std::string& what) {
  char buf[256];
  uint32_t code = ERR_get_error();
  ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  fail("baseline: " + what + (code != 0 ? std::string(": ") + buf : std::string()));
}

bssl::UniquePtr<BIO> memory_bio(const std::string& pem) {
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) fail_ssl("BIO_new_mem_buf");
  return bio;
}

// Certificate compression as a raw BoringSSL user would add it: the same
// settings as sanstls (zlib level 9, brotli quality 11), compressed in
// every handshake, decompressed one-shot into the declared length.
int zlib_compress(SSL*, CBB* out, const std::uint8_t* in, std::size_t len) {
  uLongf size = compressBound(static_cast<uLong>(len));
  std::uint8_t* data = nullptr;
  if (!CBB_reserve(out, &data, size) || compress2(data, &size, in, static_cast<uLong>(len), 9) != Z_OK) return 0;
  return CBB_did_write(out, size);
}

int brotli_compress(SSL*, CBB* out, const std::uint8_t* in, std::size_t len) {
  std::size_t size = BrotliEncoderMaxCompressedSize(len);
  std::uint8_t* data = nullptr;
  if (size == 0 || !CBB_reserve(out, &data, size) ||
      !BrotliEncoderCompress(BROTLI_MAX_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, len, in, &size, data)) {
    return 0;
  }
  return CBB_did_write(out, size);
}

int zlib_decompress(SSL*, CRYPTO_BUFFER** out, std::size_t uncompressed_len, const std::uint8_t* in,
                    std::size_t in_len) {
  std::uint8_t* data = nullptr;
  bssl::UniquePtr<CRYPTO_BUFFER> buffer(CRYPTO_BUFFER_alloc(&data, uncompressed_len));
  uLongf size = static_cast<uLongf>(uncompressed_len);
  if (!buffer || uncompress(data, &size, in, static_cast<uLong>(in_len)) != Z_OK || size != uncompressed_len) {
    return 0;
  }
  *out = buffer.release();
  return 1;
}

int brotli_decompress(SSL*, CRYPTO_BUFFER** out, std::size_t uncompressed_len, const std::uint8_t* in,
                      std::size_t in_len) {
  std::uint8_t* data = nullptr;
  bssl::UniquePtr<CRYPTO_BUFFER> buffer(CRYPTO_BUFFER_alloc(&data, uncompressed_len));
  std::size_t size = uncompressed_len;
  if (!buffer || BrotliDecoderDecompress(in_len, in, &size, data) != BROTLI_DECODER_RESULT_SUCCESS ||
      size != uncompressed_len) {
    return 0;
  }
  *out = buffer.release();
  return 1;
}

bssl::UniquePtr<SSL_CTX> new_context(const Settings& s, bool client) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) fail_ssl("SSL_CTX_new");
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (!SSL_CTX_set_cipher_list(c, kDefaultCipherString)) fail_ssl("default cipher list");
  SSL_CTX_set_session_id_context(c, kSessionContext, sizeof(kSessionContext) - 1);
  if (!SSL_CTX_set_verify_algorithm_prefs(c, kVerifyAlgorithms, std::size(kVerifyAlgorithms))) {
    fail_ssl("verify algorithms");
  }
  SSL_CTX_set_verify(c, client ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_NONE,
                     nullptr);
  const Credentials& cred = credentials_for(s);
  if (client) {
    bssl::UniquePtr<BIO> bio = memory_bio(cred.ca_pem);
    bssl::UniquePtr<STACK_OF(X509_INFO)> infos(
        PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr));
    if (!infos) fail_ssl("CA PEM");
    for (const X509_INFO* info : infos.get()) {
      if (info->x509 != nullptr && !X509_STORE_add_cert(SSL_CTX_get_cert_store(c), info->x509)) {
        fail_ssl("X509_STORE_add_cert");
      }
    }
  } else {
    bssl::UniquePtr<BIO> cert_bio = memory_bio(cred.cert_pem);
    bssl::UniquePtr<X509> leaf(PEM_read_bio_X509_AUX(cert_bio.get(), nullptr, nullptr, nullptr));
    bssl::UniquePtr<BIO> key_bio = memory_bio(cred.key_pem);
    bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (!leaf || !key || !SSL_CTX_use_certificate(c, leaf.get()) ||
        !SSL_CTX_use_PrivateKey(c, key.get())) {
      fail_ssl("server certificate and key");
    }
    while (bssl::UniquePtr<X509> next{PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)}) {
      if (!SSL_CTX_add1_chain_cert(c, next.get())) fail_ssl("chain certificate");
    }
  }
  if (s.tls12 && !SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION)) fail_ssl("max version");
  if (!s.ciphers.empty() && !SSL_CTX_set_cipher_list(c, s.ciphers.c_str())) fail_ssl("ciphers");
  if (!s.resumption) {
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  }
  SSL_CTX_set_num_tickets(c, static_cast<std::size_t>(s.tls13_tickets));
  if (s.early_data) SSL_CTX_set_early_data_enabled(c, 1);
  for (sanstls::CertificateCompression algorithm : s.compression) {
    const bool zlib = algorithm == sanstls::CertificateCompression::zlib;
    if (!SSL_CTX_add_cert_compression_alg(c, static_cast<std::uint16_t>(algorithm),
                                          zlib ? &zlib_compress : &brotli_compress,
                                          zlib ? &zlib_decompress : &brotli_decompress)) {
      fail_ssl("certificate compression");
    }
  }
  ERR_clear_error();
  return ctx;
}

// The application's transfer buffer: one BIO pair's worth, one per thread
// (threads_shared_context runs pairs on several threads at once).
thread_local std::array<char, 17 * 1024> g_transfer;

}  // namespace

const char* transport_name(Transport t) noexcept {
  switch (t) {
    case Transport::bio_pair: return "bio_pair";
    case Transport::shared_pair: return "shared_bio_pair";
    case Transport::mem: return "bio_s_mem";
  }
  return "?";
}

template <Transport T>
int BaselineSide<T>::Env::new_session(SSL* ssl, SSL_SESSION* session) {
  auto* env = static_cast<Env*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), 0));
  env->latest_.reset(session);  // takes the reference
  return 1;
}

template <Transport T>
BaselineSide<T>::Env::Env(const Settings& settings)
    : settings_(settings),
      client_(new_context(settings, true)),
      server_(new_context(settings, false)) {
  if (settings.resumption) {
    // The client keeps the newest session it was given, as a client-side
    // cache would; the server keeps BoringSSL's defaults (tickets).
    SSL_CTX_set_ex_data(client_.get(), 0, this);
    SSL_CTX_set_session_cache_mode(client_.get(), SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(client_.get(), &Env::new_session);
  }
}

template <Transport T>
BaselineSide<T>::Pair::Pair(Env& env, bool resume)
    : client_(SSL_new(env.client_.get())), server_(SSL_new(env.server_.get())) {
  if (!client_ || !server_) fail_ssl("SSL_new");
  SSL* c = client_.get();
  SSL* s = server_.get();
  if constexpr (T == Transport::bio_pair) {
    BIO* client_internal = nullptr;
    BIO* client_net = nullptr;
    BIO* server_internal = nullptr;
    BIO* server_net = nullptr;
    if (!BIO_new_bio_pair(&client_internal, 0, &client_net, 0) ||
        !BIO_new_bio_pair(&server_internal, 0, &server_net, 0)) {
      fail_ssl("BIO_new_bio_pair");
    }
    client_net_.reset(client_net);
    server_net_.reset(server_net);
    SSL_set_bio(c, client_internal, client_internal);
    SSL_set_bio(s, server_internal, server_internal);
  } else if constexpr (T == Transport::shared_pair) {
    BIO* a = nullptr;
    BIO* b = nullptr;
    if (!BIO_new_bio_pair(&a, 0, &b, 0)) fail_ssl("BIO_new_bio_pair");
    SSL_set_bio(c, a, a);
    SSL_set_bio(s, b, b);
  } else {
    client_rbio_ = BIO_new(BIO_s_mem());
    client_wbio_ = BIO_new(BIO_s_mem());
    server_rbio_ = BIO_new(BIO_s_mem());
    server_wbio_ = BIO_new(BIO_s_mem());
    if (!client_rbio_ || !client_wbio_ || !server_rbio_ || !server_wbio_) fail_ssl("BIO_s_mem");
    // An empty memory BIO reports "retry" rather than EOF.
    for (BIO* b : {client_rbio_, server_rbio_}) BIO_set_mem_eof_return(b, -1);
    SSL_set_bio(c, client_rbio_, client_wbio_);
    SSL_set_bio(s, server_rbio_, server_wbio_);
  }
  SSL_set_connect_state(c);
  SSL_set_accept_state(s);
  // What sanstls::Context::wrap_bio does for a verifying client.
  SSL_set_renegotiate_mode(c, ssl_renegotiate_freely);
  if (!SSL_set_tlsext_host_name(c, kServerName)) fail_ssl("SNI");
  X509_VERIFY_PARAM* param = SSL_get0_param(c);
  X509_VERIFY_PARAM_set_hostflags(param, 0);
  if (!X509_VERIFY_PARAM_set1_host(param, kServerName, std::char_traits<char>::length(kServerName))) {
    fail_ssl("set1_host");
  }
  if (resume && env.latest_ && !SSL_set_session(c, env.latest_.get())) fail_ssl("SSL_set_session");
}

template <Transport T>
void BaselineSide<T>::Pair::move(Side from) {
  if constexpr (T == Transport::bio_pair) {
    BIO* out = from == Side::client ? client_net_.get() : server_net_.get();
    BIO* in = from == Side::client ? server_net_.get() : client_net_.get();
    for (;;) {
      std::size_t room = std::min(BIO_ctrl_get_write_guarantee(in), g_transfer.size());
      if (room == 0) return;
      int n = BIO_read(out, g_transfer.data(), static_cast<int>(room));
      if (n <= 0) return;
      if (BIO_write(in, g_transfer.data(), n) != n) fail_ssl("BIO_write to the peer's pair");
    }
  } else if constexpr (T == Transport::mem) {
    BIO* out = from == Side::client ? client_wbio_ : server_wbio_;
    BIO* in = from == Side::client ? server_rbio_ : client_rbio_;
    for (;;) {
      int n = BIO_read(out, g_transfer.data(), static_cast<int>(g_transfer.size()));
      if (n <= 0) return;
      if (BIO_write(in, g_transfer.data(), n) != n) fail_ssl("BIO_write to the peer's BIO");
    }
  } else {
    (void)from;  // the shared pair is its own transport
  }
}

template <Transport T>
void BaselineSide<T>::Pair::handshake() {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < 8 && !(client_done && server_done); ++round) {
    if (!client_done) {
      ERR_clear_error();
      int ret = SSL_do_handshake(client_.get());
      if (ret == 1) {
        client_done = true;
      } else if (SSL_get_error(client_.get(), ret) != SSL_ERROR_WANT_READ) {
        fail_ssl("client handshake");
      }
    }
    move(Side::client);
    if (!server_done) {
      ERR_clear_error();
      int ret = SSL_do_handshake(server_.get());
      if (ret == 1) {
        server_done = true;
      } else if (SSL_get_error(server_.get(), ret) != SSL_ERROR_WANT_READ) {
        fail_ssl("server handshake");
      }
    }
    move(Side::server);
  }
  if (!client_done || !server_done) fail("baseline: handshake did not complete");
}

template <Transport T>
void BaselineSide<T>::Pair::write_early(std::span<const std::byte> data) {
  ERR_clear_error();
  // The handshake returns early on a 0-RTT session: the write goes with
  // the ClientHello.
  if (SSL_write(client_.get(), data.data(), static_cast<int>(data.size())) != static_cast<int>(data.size())) {
    fail_ssl("early SSL_write");
  }
  move(Side::client);
}

template <Transport T>
std::size_t BaselineSide<T>::Pair::read_early(std::span<std::byte> buffer) {
  // The server's handshake returned early; SSL_read gives the early data,
  // then finishes the handshake.
  std::size_t total = 0;
  for (;;) {
    ERR_clear_error();
    int ret = SSL_read(server_.get(), buffer.data() + total, static_cast<int>(buffer.size() - total));
    if (ret > 0) {
      total += static_cast<std::size_t>(ret);
      continue;
    }
    if (SSL_get_error(server_.get(), ret) != SSL_ERROR_WANT_READ) fail_ssl("early SSL_read");
    if (SSL_in_init(server_.get())) fail("baseline: the server's handshake did not finish");
    return total;
  }
}

template <Transport T>
bool BaselineSide<T>::Pair::early_accepted() const {
  return SSL_early_data_accepted(client_.get()) && SSL_early_data_accepted(server_.get());
}

template <Transport T>
void BaselineSide<T>::Pair::settle() {
  // A BoringSSL TLS 1.3 server sends its session tickets with its first
  // write after the handshake: one byte from the server brings them.
  static constexpr std::byte kByte[1] = {std::byte{'s'}};
  write(Side::server, kByte);
  std::byte scratch[16];
  Receiver receiver(false);
  read_all(Side::client, scratch, receiver);
  read_all(Side::server, scratch, receiver);
  if (receiver.received() != 1) fail("baseline: settle: the server's byte did not arrive");
}

template <Transport T>
void BaselineSide<T>::Pair::write(Side from, std::span<const std::byte> data) {
  SSL* ssl = from == Side::client ? client_.get() : server_.get();
  std::size_t done = 0;
  int stalls = 0;
  while (done < data.size()) {
    ERR_clear_error();
    int ret = SSL_write(ssl, data.data() + done, static_cast<int>(data.size() - done));
    if (ret > 0) {
      done += static_cast<std::size_t>(ret);
    } else if (SSL_get_error(ssl, ret) == SSL_ERROR_WANT_WRITE && ++stalls < 4) {
      move(from);  // the pair is full: drain it to the peer first
    } else {
      fail_ssl("SSL_write");
    }
  }
  move(from);
}

template <Transport T>
void BaselineSide<T>::Pair::read_all(Side to, std::span<std::byte> buffer, Receiver& receiver) {
  SSL* ssl = to == Side::client ? client_.get() : server_.get();
  int len = static_cast<int>(buffer.size());
  for (;;) {
    ERR_clear_error();
    int ret = SSL_read(ssl, buffer.data(), len);
    if (ret > 0) {
      receiver.take(buffer.first(static_cast<std::size_t>(ret)));
    } else if (SSL_get_error(ssl, ret) == SSL_ERROR_WANT_READ) {
      return;
    } else {
      fail_ssl("SSL_read");
    }
  }
}

template <Transport T>
std::string BaselineSide<T>::Pair::cipher() const {
  const SSL_CIPHER* c = SSL_get_current_cipher(client_.get());
  return c != nullptr ? SSL_CIPHER_get_name(c) : "(none)";
}

template <Transport T>
std::string BaselineSide<T>::Pair::version() const {
  return SSL_get_version(client_.get());
}

template <Transport T>
bool BaselineSide<T>::Pair::session_reused() const noexcept {
  return SSL_session_reused(client_.get()) != 0;
}

template struct BaselineSide<Transport::bio_pair>;
template struct BaselineSide<Transport::shared_pair>;
template struct BaselineSide<Transport::mem>;

}  // namespace bench
