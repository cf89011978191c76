// Peer certificate verification. Every Context's SSL_CTX uses BoringSSL's
// TLS_with_buffers_method(), so BoringSSL keeps the peer's chain as the
// CRYPTO_BUFFERs it received and never parses it into X509s: sanstls
// verifies it here, with X509s it parsed once per distinct certificate.
// With BoringSSL's X509-based method every handshake parsed the peer's
// certificate again and decoded its extensions again, and every
// connection and session held that parsed copy (about 6 KB for a P-256
// leaf) for as long as it lived.
#include <openssl/x509.h>

#include <mutex>
#include <shared_mutex>
#include <utility>

#include "internal.hpp"

namespace sanstls {

CRYPTO_BUFFER_POOL* certificate_pool() {
  static CRYPTO_BUFFER_POOL* const pool = CRYPTO_BUFFER_POOL_new();
  return pool;
}

bssl::UniquePtr<X509> ParsedCertificates::get(CRYPTO_BUFFER* buffer) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Entry& e : entries_) {
      if (e.buffer.get() == buffer) {
        X509_up_ref(e.cert.get());
        return bssl::UniquePtr<X509>(e.cert.get());
      }
    }
  }
  // Parsed outside the lock: two threads may parse the same certificate
  // at once, and both results are correct.
  bssl::UniquePtr<X509> cert(X509_parse_from_buffer(buffer));
  if (!cert) return nullptr;
  // Decoding the extensions is most of the remaining per-certificate work
  // of X509_verify_cert, and the X509 keeps the result.
  X509_check_purpose(cert.get(), -1, 0);
  CRYPTO_BUFFER_up_ref(buffer);
  X509_up_ref(cert.get());
  Entry fresh{bssl::UniquePtr<CRYPTO_BUFFER>(buffer), bssl::UniquePtr<X509>(cert.get())};
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() < kCapacity) {
    entries_.push_back(std::move(fresh));
  } else {
    entries_[next_victim_] = std::move(fresh);
    next_victim_ = (next_victim_ + 1) % kCapacity;
  }
  return cert;
}

PeerVerdict verify_peer_chain(ContextAccess::State& context, const STACK_OF(CRYPTO_BUFFER)* chain,
                              const PeerCheck& check) {
  if (chain == nullptr || sk_CRYPTO_BUFFER_num(chain) == 0) {
    return {X509_V_ERR_APPLICATION_VERIFICATION, "no certificate to verify"};
  }
  // The whole chain, leaf included, is the untrusted set, as BoringSSL's
  // X509-based method passes it.
  bssl::UniquePtr<STACK_OF(X509)> certs(sk_X509_new_null());
  if (!certs) return {X509_V_ERR_OUT_OF_MEM, {}};
  std::size_t position = 0;
  for (CRYPTO_BUFFER* buffer : chain) {
    bssl::UniquePtr<X509> cert = context.parsed.get(buffer);
    // BoringSSL has already parsed each certificate as far as the
    // handshake needs (its public key), so this is a certificate that
    // X509's stricter parser rejects. X.509 has no code for that.
    if (!cert) {
      ERR_clear_error();
      return {X509_V_ERR_UNSPECIFIED, position == 0
                                          ? "the certificate cannot be parsed"
                                          : "certificate " + std::to_string(position) +
                                                " of the chain cannot be parsed"};
    }
    if (!bssl::PushToStack(certs.get(), std::move(cert))) return {X509_V_ERR_OUT_OF_MEM, {}};
    ++position;
  }

  // Shared: verifications run side by side (BoringSSL locks its lookups),
  // while cert_store_stats and get_ca_certs wait (internal.hpp).
  std::shared_lock store_lock(context.store_mutex);
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (!ctx || !X509_STORE_CTX_init(ctx.get(), context.store.get(), sk_X509_value(certs.get(), 0),
                                   certs.get()) ||
      // A client checks that the peer is a TLS server and vice versa.
      !X509_STORE_CTX_set_default(ctx.get(), check.server ? "ssl_client" : "ssl_server")) {
    return {X509_V_ERR_OUT_OF_MEM, {}};
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, static_cast<unsigned long>(context.verify_flags) &
                                         kBoringSSLVerifyFlags);
  if (check.host != nullptr) {
    X509_VERIFY_PARAM_set_hostflags(param, check.host_flags);
    int ok = 0;
    if (check.host_is_ip) {
      bssl::UniquePtr<ASN1_OCTET_STRING> ip = parse_ip(*check.host);
      ok = ip && X509_VERIFY_PARAM_set1_ip(param, ASN1_STRING_get0_data(ip.get()),
                                           static_cast<size_t>(ASN1_STRING_length(ip.get())));
    } else {
      ok = X509_VERIFY_PARAM_set1_host(param, check.host->data(), check.host->size());
    }
    if (!ok) return {X509_V_ERR_OUT_OF_MEM, {}};
  }
  if (X509_verify_cert(ctx.get()) > 0) return {X509_V_OK, {}};
  long code = X509_STORE_CTX_get_error(ctx.get());
  return {code != X509_V_OK ? code : X509_V_ERR_UNSPECIFIED, {}};
}

}  // namespace sanstls
