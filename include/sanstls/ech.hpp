// sanstls/ech.hpp: Encrypted Client Hello (ECH, draft-ietf-tls-esni-13 as
// BoringSSL implements it): a server's ECH keys and the configurations
// clients encrypt their ClientHello to, so that the server name travels
// encrypted. Not in Python's ssl module; see docs/ech.md.
//
// Example:
//   // A server makes a key whose public name its certificate is valid for.
//   sanstls::EchKeys keys = sanstls::EchKeys::generate("localhost");
//   std::string pem = keys.to_pem();             // the server's key file
//   std::string published = keys.config_list();  // for clients (a DNS HTTPS record)
//   sanstls::EchKeys loaded = sanstls::EchKeys::from_pem(pem);
//   // server_ctx.set_ech_keys(loaded);                           // context.hpp
//   // client_ctx.set_ech_config_list(sanstls::as_bytes(published));
//   // After the handshake object.ech_accepted() says if it worked on
//   // either side. A rejection is an ECH_REJECTED error whose
//   // ech_retry_configs are what to try again with (none: without ECH).
//   (void)published;
//
// Threads: an EchKeys is a value; copies are independent, and distinct
// objects may be used on any threads.
#ifndef SANSTLS_ECH_HPP
#define SANSTLS_ECH_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sanstls {

// EchKeys is a server's set of ECH keys: each an X25519 HPKE private key
// and the ECHConfig clients encrypt to, in order of preference. Several
// keys let a server rotate: the new ones are retry configs (sent to a
// client whose configuration failed), the old ones are only still
// accepted until the DNS records that named them have expired.
class EchKeys {
 public:
  // Entry is one key: its ECHConfig, the 32-byte X25519 private key, and
  // whether it is a retry config.
  struct Entry {
    std::string config;       // one ECHConfig, version 0xfe0d
    std::string private_key;  // the raw X25519 private key
    bool retry = true;        // sent as a retry config (and in config_list)
  };

  // generate makes one new key (X25519, with HKDF-SHA256 and AES-128-GCM
  // or ChaCha20-Poly1305) whose ECHConfig names |public_name|: the name a
  // client puts in its outer, unencrypted ClientHello, and the name the
  // server's certificate must be valid for, since a client whose
  // configuration failed verifies the server against it. |config_id| tells
  // a server's keys apart (give each a different one); |max_name_length|
  // is the longest name the server hides behind it, which clients pad
  // their inner ClientHello to (0 lets them choose). Throws
  // std::invalid_argument for a public name that is not a DNS name of
  // letters, digits and hyphens whose last label is not numeric (an IP
  // address is refused).
  static EchKeys generate(std::string_view public_name, std::uint8_t config_id = 0,
                          std::size_t max_name_length = 0);

  // from_pem reads keys written by to_pem (or another tool that writes the
  // same format, draft-farrell-tls-pemesni): a PKCS#8 X25519 "PRIVATE KEY"
  // followed by an "ECHCONFIG" block holding an ECHConfigList of one
  // ECHConfig, once per key. All are retry configs. Throws
  // std::invalid_argument, naming what is wrong, for anything else.
  static EchKeys from_pem(std::string_view pem);

  // from_raw takes one key as bssl-tool generate-ech writes it: an
  // ECHConfig (-out-ech-config) and a 32-byte private key
  // (-out-private-key). Throws std::invalid_argument when they do not
  // parse or do not belong together.
  static EchKeys from_raw(std::string_view config, std::string_view private_key);

  // to_pem writes every key in from_pem's format. It holds private keys:
  // store it as carefully as a certificate's key.
  std::string to_pem() const;

  // add appends |more|'s keys after these, as retry configs or not: a
  // server rotating keys adds its previous keys with |retry| false.
  void add(const EchKeys& more, bool retry);

  // config_list returns the ECHConfigList of the retry configs: what to
  // publish to clients (in a DNS HTTPS record's "ech" parameter, or a file
  // for sanstls client --ech-config-list and bssl-tool client
  // -ech-config-list).
  std::string config_list() const;

  // entries returns the keys, in order.
  const std::vector<Entry>& entries() const noexcept { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace sanstls

#endif  // SANSTLS_ECH_HPP
