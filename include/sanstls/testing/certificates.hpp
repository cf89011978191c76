// sanstls/testing/certificates.hpp: certificates made on the fly, for tests,
// demos and fuzz seeds. Not for production PKI: keys are generated in memory
// and serial numbers are random.
//
// Example:
//   using namespace sanstls::testing;
//   CertificateAuthority ca = CertificateAuthority::create("Test CA");
//   Issued server = ca.issue({.common_name = "localhost",
//                             .dns_names = {"localhost"},
//                             .ip_addresses = {"127.0.0.1", "::1"}});
//   sanstls::Context server_ctx(sanstls::Protocol::tls_server);
//   server_ctx.load_cert_chain_pem(server.certificate_pem, server.private_key_pem);
//   sanstls::Context client_ctx(sanstls::Protocol::tls_client);
//   client_ctx.load_verify_locations({.cadata = sanstls::CaData::pem(ca.certificate_pem())});
//
// Threads: issue(), crl_pem(), intermediate() and the getters only read a
// CertificateAuthority (its key signs from any thread), so they may run on
// several threads at once; creating, moving or destroying it may not
// overlap with anything else on it. Issued is a plain value, and
// self_signed may run on any thread.
#ifndef SANSTLS_TESTING_CERTIFICATES_HPP
#define SANSTLS_TESTING_CERTIFICATES_HPP

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <sanstls/context.hpp>  // the example loads what it issues

// sanstls::testing is the test scaffolding (library sanstls_testing):
// certificates made on the fly and the in-memory Pipe. Not for production.
namespace sanstls::testing {

// KeyType is the kind of key a certificate gets.
enum class KeyType {
  ec_p256,  // ECDSA on P-256: fast, the default
  rsa2048,  // RSA 2048-bit
  ed25519,  // Ed25519
};

// CertificateOptions describes a certificate to issue.
struct CertificateOptions {
  // common_name is the subject's CN.
  std::string common_name = "localhost";
  // organization is the subject's O, which marks the certificate as a test one.
  std::string organization = "sanstls tests";
  std::vector<std::string> dns_names{};     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses{};  // subjectAltName IP entries, IPv4 or IPv6 text
  std::vector<std::string> emails{};        // subjectAltName email entries
  // key_type is the kind of key the certificate gets.
  KeyType key_type = KeyType::ec_p256;
  // Validity relative to now, in seconds: the defaults make a certificate
  // valid from an hour ago for a year. A negative not_after_offset makes an
  // expired one; a positive not_before_offset one that is not yet valid.
  std::int64_t not_before_offset = -3600;
  // not_after_offset is when it expires, in seconds from now.
  std::int64_t not_after_offset = 365 * 24 * 3600;
  bool is_ca = false;          // basicConstraints CA:TRUE and keyCertSign
  bool client_auth = false;    // extendedKeyUsage clientAuth instead of serverAuth
};

// Issued is a certificate and its private key, both PEM.
struct Issued {
  // certificate_pem is the certificate as PEM.
  std::string certificate_pem;
  std::string private_key_pem;  // unencrypted PKCS#8
  // certificate_der is the same certificate as DER bytes.
  std::string certificate_der;

  // encrypted_private_key_pem returns the key as encrypted PKCS#8 PEM
  // (AES-256-CBC), which load_cert_chain opens with |password|.
  std::string encrypted_private_key_pem(std::string_view password) const;
};

// CertificateAuthority issues certificates signed by its own self-signed root.
class CertificateAuthority {
 public:
  // create makes a new root CA with a fresh key. Throws SSLError when
  // BoringSSL fails.
  static CertificateAuthority create(std::string_view common_name = "sanstls test CA",
                                     KeyType key_type = KeyType::ec_p256);

  // certificate_pem returns the root certificate, to trust in verifiers.
  const std::string& certificate_pem() const noexcept;
  // root returns the root certificate and its key.
  const Issued& root() const noexcept;

  // issue makes a certificate for |options| signed by this CA. Throws
  // std::invalid_argument for an IP address that does not parse.
  Issued issue(const CertificateOptions& options) const;

  // crl_pem makes this CA's certificate revocation list (PEM), valid from
  // an hour ago for 30 days, revoking |revoked| (certificates this CA
  // issued), for load_verify_locations() and VerifyFlags CRL checks.
  // Throws std::invalid_argument for a certificate that does not parse.
  std::string crl_pem(const std::vector<Issued>& revoked = {}) const;

  // intermediate makes a sub-CA signed by this CA, which can issue in turn.
  CertificateAuthority intermediate(std::string_view common_name,
                                    KeyType key_type = KeyType::ec_p256) const;

  // Moving hands the CA's key over; the moved-from CA cannot issue.
  CertificateAuthority(CertificateAuthority&&) noexcept;
  // Move assignment drops this CA's key and takes over the moved-from one's.
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;
  ~CertificateAuthority();

 private:
  struct State;
  explicit CertificateAuthority(std::unique_ptr<State> state) noexcept;
  std::unique_ptr<State> state_;
};

// self_signed makes a self-signed certificate for |options| (not a CA).
Issued self_signed(const CertificateOptions& options);

}  // namespace sanstls::testing

#endif  // SANSTLS_TESTING_CERTIFICATES_HPP
