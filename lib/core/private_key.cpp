// PrivateKey (callbacks.hpp): a key outside any Context, answering a
// signer's requests with BoringSSL's primitives.
#include <sanstls/callbacks.hpp>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>

#include <string>

#include "internal.hpp"

namespace sanstls {

struct PrivateKey::State {
  bssl::UniquePtr<EVP_PKEY> key;
};

PrivateKey PrivateKey::from_pem(std::string_view pem, std::optional<std::string_view> password) {
  ErrorGuard guard;
  auto state = std::make_shared<State>();
  state->key = read_private_key(pem, password ? Password(*password) : Password());
  return PrivateKey(std::move(state));
}

PrivateKeyReply PrivateKey::perform(const PrivateKeyRequest& request) const {
  ErrorGuard guard;
  EVP_PKEY* key = state_->key.get();
  const auto* in = reinterpret_cast<const uint8_t*>(request.input.data());
  if (request.operation == PrivateKeyOperation::decrypt) {
    // BoringSSL's key is immutable once made, so threads may share it.
    RSA* rsa = EVP_PKEY_get0_RSA(key);
    if (rsa == nullptr) return PrivateKeyReply::failed("decryption needs an RSA key");
    std::string out(RSA_size(rsa), '\0');
    size_t len = 0;
    if (!RSA_decrypt(rsa, &len, reinterpret_cast<uint8_t*>(out.data()), out.size(), in, request.input.size(),
                     RSA_NO_PADDING)) {
      return PrivateKeyReply::failed("RSA decryption failed");
    }
    out.resize(len);
    return PrivateKeyReply::done(std::move(out));
  }
  if (SSL_get_signature_algorithm_key_type(request.algorithm) != EVP_PKEY_id(key)) {
    return PrivateKeyReply::failed("the key cannot sign with " +
                                   (request.algorithm_name.empty() ? std::to_string(request.algorithm)
                                                                   : request.algorithm_name));
  }
  bssl::ScopedEVP_MD_CTX ctx;
  EVP_PKEY_CTX* pctx = nullptr;
  // Ed25519 hashes inside the signature: no digest.
  if (!EVP_DigestSignInit(ctx.get(), &pctx, SSL_get_signature_algorithm_digest(request.algorithm), nullptr,
                          key) ||
      (SSL_is_signature_algorithm_rsa_pss(request.algorithm) &&
       (!EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) ||
        !EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, -1 /* the hash's length */)))) {
    return PrivateKeyReply::failed("cannot set up " + request.algorithm_name);
  }
  size_t len = 0;
  std::string out;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, request.input.size())) {
    out.resize(len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<uint8_t*>(out.data()), &len, in, request.input.size())) {
      out.resize(len);
      return PrivateKeyReply::done(std::move(out));
    }
  }
  return PrivateKeyReply::failed("signing with " + request.algorithm_name + " failed");
}

}  // namespace sanstls
