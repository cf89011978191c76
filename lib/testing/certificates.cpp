#include <sanstls/testing/certificates.hpp>

#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "../core/internal.hpp"

namespace sanstls::testing {

namespace {

void check(int ok, std::string_view what) {
  if (ok != 1) throw_from_queue(what);
}

template <typename T>
T* check_ptr(T* p, std::string_view what) {
  if (p == nullptr) throw_from_queue(what);
  return p;
}

bssl::UniquePtr<EVP_PKEY> generate_key(KeyType type) {
  bssl::UniquePtr<EVP_PKEY> key(check_ptr(EVP_PKEY_new(), "EVP_PKEY_new"));
  switch (type) {
    case KeyType::ec_p256: {
      bssl::UniquePtr<EC_KEY> ec(
          check_ptr(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1), "EC_KEY_new"));
      check(EC_KEY_generate_key(ec.get()), "EC_KEY_generate_key");
      check(EVP_PKEY_assign_EC_KEY(key.get(), ec.release()), "EVP_PKEY_assign_EC_KEY");
      break;
    }
    case KeyType::rsa2048: {
      bssl::UniquePtr<RSA> rsa(check_ptr(RSA_new(), "RSA_new"));
      bssl::UniquePtr<BIGNUM> e(check_ptr(BN_new(), "BN_new"));
      check(BN_set_word(e.get(), RSA_F4), "BN_set_word");
      check(RSA_generate_key_ex(rsa.get(), 2048, e.get(), nullptr), "RSA_generate_key_ex");
      check(EVP_PKEY_assign_RSA(key.get(), rsa.release()), "EVP_PKEY_assign_RSA");
      break;
    }
    case KeyType::ed25519: {
      bssl::UniquePtr<EVP_PKEY_CTX> ctx(
          check_ptr(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), "EVP_PKEY_CTX_new_id"));
      check(EVP_PKEY_keygen_init(ctx.get()), "EVP_PKEY_keygen_init");
      EVP_PKEY* raw = nullptr;
      check(EVP_PKEY_keygen(ctx.get(), &raw), "EVP_PKEY_keygen");
      key.reset(raw);
      break;
    }
  }
  return key;
}

std::string bio_contents(BIO* bio) {
  const uint8_t* data = nullptr;
  size_t len = 0;
  check(BIO_mem_contents(bio, &data, &len), "BIO_mem_contents");
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string to_pem(X509* cert) {
  bssl::UniquePtr<BIO> bio(check_ptr(BIO_new(BIO_s_mem()), "BIO_new"));
  check(PEM_write_bio_X509(bio.get(), cert), "PEM_write_bio_X509");
  return bio_contents(bio.get());
}

std::string to_der(X509* cert) {
  uint8_t* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) throw_from_queue("i2d_X509");
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string key_to_pem(EVP_PKEY* key) {
  bssl::UniquePtr<BIO> bio(check_ptr(BIO_new(BIO_s_mem()), "BIO_new"));
  check(PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PKCS8PrivateKey");
  return bio_contents(bio.get());
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(
      X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) throw_from_queue("cannot encode extension " + value);
  check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

void add_name(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return;
  check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                   reinterpret_cast<const uint8_t*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0),
        "X509_NAME_add_entry_by_txt");
}

std::string subject_alt_names(const CertificateOptions& options) {
  std::string san;
  auto append = [&](const char* kind, const std::string& value) {
    if (!san.empty()) san += ',';
    san += kind;
    san += ':';
    san += value;
  };
  for (const auto& dns : options.dns_names) append("DNS", dns);
  for (const auto& ip : options.ip_addresses) {
    if (!parse_ip(ip)) {
      throw std::invalid_argument("not an IP address: '" + ip + "'");
    }
    append("IP", ip);
  }
  for (const auto& email : options.emails) append("email", email);
  return san;
}

// make_certificate builds and signs one certificate. A null |issuer| makes
// it self-signed with |key|.
bssl::UniquePtr<X509> make_certificate(const CertificateOptions& options, EVP_PKEY* key,
                                       X509* issuer, EVP_PKEY* issuer_key) {
  bssl::UniquePtr<X509> cert(check_ptr(X509_new(), "X509_new"));
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

  uint8_t serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof serial_bytes);
  serial_bytes[0] &= 0x7f;  // positive
  serial_bytes[0] |= 0x40;  // and always 16 bytes long
  bssl::UniquePtr<BIGNUM> serial(
      check_ptr(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr), "BN_bin2bn"));
  check_ptr(BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())),
            "BN_to_ASN1_INTEGER");

  check_ptr(X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(options.not_before_offset)),
            "X509_gmtime_adj");
  check_ptr(X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(options.not_after_offset)),
            "X509_gmtime_adj");

  X509_NAME* subject = X509_get_subject_name(cert.get());
  add_name(subject, "O", options.organization);
  add_name(subject, "CN", options.common_name);
  check(X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : subject),
        "X509_set_issuer_name");
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");

  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (options.is_ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  } else if (issuer == nullptr) {
    // A self-signed end-entity certificate, as `openssl req -x509` makes:
    // no keyUsage, so verifiers recognise it as self-signed (error 18)
    // rather than as missing its issuer.
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage,
                  options.key_type == KeyType::rsa2048 ? "critical,digitalSignature,keyEncipherment"
                                                       : "critical,digitalSignature");
    add_extension(cert.get(), signer, NID_ext_key_usage,
                  options.client_auth ? "clientAuth" : "serverAuth,clientAuth");
  }
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  }
  std::string san = subject_alt_names(options);
  if (!san.empty()) add_extension(cert.get(), signer, NID_subject_alt_name, san);

  EVP_PKEY* signing_key = issuer_key != nullptr ? issuer_key : key;
  const EVP_MD* md = EVP_PKEY_id(signing_key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(cert.get(), signing_key, md) <= 0) throw_from_queue("X509_sign");
  return cert;
}

Issued describe(X509* cert, EVP_PKEY* key) {
  return Issued{to_pem(cert), key_to_pem(key), to_der(cert)};
}

}  // namespace

std::string Issued::encrypted_private_key_pem(std::string_view password) const {
  ErrorGuard guard;
  bssl::UniquePtr<BIO> in(BIO_new_mem_buf(private_key_pem.data(),
                                          static_cast<int>(private_key_pem.size())));
  bssl::UniquePtr<EVP_PKEY> key(
      check_ptr(PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr), "PEM_read_bio_PrivateKey"));
  bssl::UniquePtr<BIO> out(check_ptr(BIO_new(BIO_s_mem()), "BIO_new"));
  std::string pass(password);
  check(PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), pass.data(),
                                      static_cast<int>(pass.size()), nullptr, nullptr),
        "PEM_write_bio_PKCS8PrivateKey");
  return bio_contents(out.get());
}

struct CertificateAuthority::State {
  bssl::UniquePtr<X509> cert;
  bssl::UniquePtr<EVP_PKEY> key;
  Issued root;
};

CertificateAuthority::CertificateAuthority(std::unique_ptr<State> state) noexcept
    : state_(std::move(state)) {}
CertificateAuthority::CertificateAuthority(CertificateAuthority&&) noexcept = default;
CertificateAuthority& CertificateAuthority::operator=(CertificateAuthority&&) noexcept = default;
CertificateAuthority::~CertificateAuthority() = default;

namespace {

// ca_options describes a CA certificate valid for |years|.
CertificateOptions ca_options(std::string_view common_name, KeyType key_type, long long years) {
  CertificateOptions options;
  options.common_name = std::string(common_name);
  options.key_type = key_type;
  options.is_ca = true;
  options.not_after_offset = years * 365 * 24 * 3600;
  return options;
}

}  // namespace

CertificateAuthority CertificateAuthority::create(std::string_view common_name, KeyType key_type) {
  ErrorGuard guard;
  auto s = std::make_unique<State>();
  s->key = generate_key(key_type);
  s->cert = make_certificate(ca_options(common_name, key_type, 10), s->key.get(), nullptr, nullptr);
  s->root = describe(s->cert.get(), s->key.get());
  return CertificateAuthority(std::move(s));
}

const std::string& CertificateAuthority::certificate_pem() const noexcept {
  return state_->root.certificate_pem;
}

const Issued& CertificateAuthority::root() const noexcept { return state_->root; }

Issued CertificateAuthority::issue(const CertificateOptions& options) const {
  ErrorGuard guard;
  bssl::UniquePtr<EVP_PKEY> key = generate_key(options.key_type);
  bssl::UniquePtr<X509> cert =
      make_certificate(options, key.get(), state_->cert.get(), state_->key.get());
  return describe(cert.get(), key.get());
}

std::string CertificateAuthority::crl_pem(const std::vector<Issued>& revoked) const {
  ErrorGuard guard;
  bssl::UniquePtr<X509_CRL> crl(check_ptr(X509_CRL_new(), "X509_CRL_new"));
  check(X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2), "X509_CRL_set_version");
  check(X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(state_->cert.get())),
        "X509_CRL_set_issuer_name");
  bssl::UniquePtr<ASN1_TIME> last(check_ptr(X509_gmtime_adj(nullptr, -3600), "X509_gmtime_adj"));
  bssl::UniquePtr<ASN1_TIME> next(
      check_ptr(X509_gmtime_adj(nullptr, 30L * 24 * 3600), "X509_gmtime_adj"));
  check(X509_CRL_set1_lastUpdate(crl.get(), last.get()), "X509_CRL_set1_lastUpdate");
  check(X509_CRL_set1_nextUpdate(crl.get(), next.get()), "X509_CRL_set1_nextUpdate");
  for (const Issued& issued : revoked) {
    const auto* der = reinterpret_cast<const uint8_t*>(issued.certificate_der.data());
    bssl::UniquePtr<X509> cert(d2i_X509(nullptr, &der, static_cast<long>(issued.certificate_der.size())));
    if (!cert) throw std::invalid_argument("crl_pem: a revoked certificate does not parse");
    bssl::UniquePtr<X509_REVOKED> entry(check_ptr(X509_REVOKED_new(), "X509_REVOKED_new"));
    check(X509_REVOKED_set_serialNumber(entry.get(), X509_get_serialNumber(cert.get())),
          "X509_REVOKED_set_serialNumber");
    check(X509_REVOKED_set_revocationDate(entry.get(), last.get()),
          "X509_REVOKED_set_revocationDate");
    check(X509_CRL_add0_revoked(crl.get(), entry.get()), "X509_CRL_add0_revoked");
    entry.release();  // the CRL owns it now
  }
  check(X509_CRL_sort(crl.get()), "X509_CRL_sort");
  EVP_PKEY* key = state_->key.get();
  const EVP_MD* md = EVP_PKEY_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_CRL_sign(crl.get(), key, md) <= 0) throw_from_queue("X509_CRL_sign");
  bssl::UniquePtr<BIO> bio(check_ptr(BIO_new(BIO_s_mem()), "BIO_new"));
  check(PEM_write_bio_X509_CRL(bio.get(), crl.get()), "PEM_write_bio_X509_CRL");
  return bio_contents(bio.get());
}

CertificateAuthority CertificateAuthority::intermediate(std::string_view common_name,
                                                        KeyType key_type) const {
  ErrorGuard guard;
  auto s = std::make_unique<State>();
  s->key = generate_key(key_type);
  s->cert = make_certificate(ca_options(common_name, key_type, 5), s->key.get(),
                             state_->cert.get(), state_->key.get());
  s->root = describe(s->cert.get(), s->key.get());
  return CertificateAuthority(std::move(s));
}

Issued self_signed(const CertificateOptions& options) {
  ErrorGuard guard;
  bssl::UniquePtr<EVP_PKEY> key = generate_key(options.key_type);
  bssl::UniquePtr<X509> cert = make_certificate(options, key.get(), nullptr, nullptr);
  return describe(cert.get(), key.get());
}

}  // namespace sanstls::testing
