// sanstls/callbacks.hpp: what the handshake can ask of the application, and
// how the application answers at once or later.
//
// Three callbacks, set on a Context, let the application take part in the
// handshake: a private-key operation for a key the Context never holds
// (Context::load_cert_chain_with_signer), a verdict on the peer's
// certificates (Context::set_verify_callback) and, on a server, a look at
// the ClientHello before a certificate is chosen
// (Context::set_client_hello_callback). Each returns a reply: done at once,
// failed, or pending. Pending makes the engine call return a wait status
// (want_private_key, want_certificate_verify, want_client_hello); the
// application finishes the work whenever it likes, gives the answer to the
// Object (complete_private_key, complete_certificate_verify,
// complete_client_hello) and calls do_handshake() again.
//
// Threads: sanstls has no threads of its own. A callback runs inside the
// engine call that needs it (do_handshake(), read, write or unwrap), on
// that call's thread; so do a Context's SNI, key log and message
// callbacks, and a password callback runs inside load_cert_chain. The
// callbacks of one Context serve every Object made from it, so with
// Objects on several threads they run on several threads at once: what
// they share must be thread-safe. For one Object they never overlap, as
// its calls do not. What the three callbacks of this file get
// (PrivateKeyRequest, PeerCertificates, ClientHello) are copies that may
// go to another thread, and the answer to a pending call (complete_*) may
// come from any thread that is not using the Object at that moment.
//
// Example:
//   // A signer that answers on a later turn of the loop:
//   std::optional<sanstls::PrivateKeyRequest> job;
//   sanstls::PrivateKeySigner signer = [&job](sanstls::Object&,
//                                             const sanstls::PrivateKeyRequest& request) {
//     job = request;  // a copy: an HSM works on it while the loop goes on
//     return sanstls::PrivateKeyReply::pending();
//   };
//   // With ctx.load_cert_chain_with_signer("chain.pem", signer), a server's
//   // do_handshake() returns Status::want_private_key. Once the signature
//   // is there: tls.complete_private_key(PrivateKeyReply::done(signature))
//   // and tls.do_handshake() again.
//
//   // A verify callback that adds a check to the built-in ones:
//   sanstls::VerifyCallback verify = [](sanstls::Object&, const sanstls::PeerCertificates& peer) {
//     if (peer.verify_code != sanstls::VerifyCode::ok) {
//       return sanstls::VerifyReply::reject(peer.verify_message);
//     }
//     if (peer.chain.size() > 3) return sanstls::VerifyReply::reject("chain too long");
//     return sanstls::VerifyReply::accept();
//   };
#ifndef SANSTLS_CALLBACKS_HPP
#define SANSTLS_CALLBACKS_HPP

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sanstls/constants.hpp>

namespace sanstls {

class Object;

// ---- Private-key operations ----------------------------------------------

// PrivateKeyOperation is what a signer is asked to do.
enum class PrivateKeyOperation : std::uint8_t {
  sign,     // sign |input| with the TLS signature scheme |algorithm|
  // decrypt: a raw RSA decryption of |input| (no padding removed: the
  // output is as long as the modulus), for a TLS 1.2 RSA key exchange.
  decrypt,
};

// PrivateKeyRequest is one operation the handshake needs the private key
// for. It owns its bytes, so it can be copied to another thread or kept
// until a later turn of the loop.
struct PrivateKeyRequest {
  // operation says whether to sign or to decrypt.
  PrivateKeyOperation operation = PrivateKeyOperation::sign;
  // algorithm is the TLS SignatureScheme (RFC 8446 section 4.2.3), such as
  // 0x0403 ecdsa_secp256r1_sha256 or 0x0804 rsa_pss_rsae_sha256 (salt as
  // long as the hash); 0 for decrypt. The signer hashes |input| itself, as
  // the scheme says. Only the schemes of the certificate's key are asked
  // for (see Context::load_cert_chain_with_signer).
  std::uint16_t algorithm = 0;
  // algorithm_name is the scheme's name ("ecdsa_secp256r1_sha256"), for logs.
  std::string algorithm_name;
  // input is the message to sign (not its digest) or the ciphertext.
  std::string input;
};

// PrivateKeyReply is a signer's answer: done with the signature (or
// plaintext), failed, or pending (answer later with
// Object::complete_private_key).
class PrivateKeyReply {
 public:
  // Kind says which of the three answers a reply is.
  enum class Kind : std::uint8_t { done, failed, pending };
  // done returns a reply carrying the operation's result.
  static PrivateKeyReply done(std::string output) { return PrivateKeyReply(Kind::done, std::move(output)); }
  // failed returns a reply that aborts the handshake; |reason| ends up in
  // the Object's error ("... (the signer failed: |reason|)").
  static PrivateKeyReply failed(std::string reason) { return PrivateKeyReply(Kind::failed, std::move(reason)); }
  // pending returns a reply that makes the engine call return
  // Status::want_private_key.
  static PrivateKeyReply pending() { return PrivateKeyReply(Kind::pending, {}); }

  // kind returns which of the three this is.
  Kind kind() const noexcept { return kind_; }
  // output returns the result of a done reply (empty otherwise).
  const std::string& output() const noexcept { return kind_ == Kind::done ? text_ : empty_; }
  // reason returns a failed reply's reason (empty otherwise).
  const std::string& reason() const noexcept { return kind_ == Kind::failed ? text_ : empty_; }

 private:
  PrivateKeyReply(Kind kind, std::string text) : kind_(kind), text_(std::move(text)) {}
  Kind kind_;
  std::string text_;
  inline static const std::string empty_;
};

// PrivateKey is a private key held outside any Context: it answers a
// signer's requests wherever the application runs them, for example on a
// worker thread so that RSA signatures do not stall an event loop, or in
// tests of an asynchronous signer. Copies share the key; perform() may run
// on many threads at once.
//
//   sanstls::PrivateKey key = sanstls::PrivateKey::from_pem(key_pem);
//   sanstls::PrivateKeyReply reply = key.perform(request);  // on a worker
class PrivateKey {
 public:
  // from_pem reads an RSA, ECDSA or Ed25519 private key (PKCS #8 or the
  // traditional forms), decrypted with |password| if it is encrypted.
  // Throws SSLError ("[SSL] PEM lib: ...") as load_cert_chain does for a
  // missing, broken or undecryptable key.
  static PrivateKey from_pem(std::string_view pem, std::optional<std::string_view> password = std::nullopt);

  // perform does what |request| asks: a signature with its scheme (RSA-PSS
  // with a salt as long as the hash), or a raw RSA decryption. Returns a
  // done reply, or a failed one naming why (a scheme that does not fit the
  // key, a decryption with a key that is not RSA).
  PrivateKeyReply perform(const PrivateKeyRequest& request) const;

 private:
  struct State;
  explicit PrivateKey(std::shared_ptr<const State> state) noexcept : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

// PrivateKeySigner performs |request| for the Object whose handshake needs
// it. It runs inside the engine call, on that call's thread; it must not
// call the Object's engine calls. An exception escaping it fails the
// handshake, as PrivateKeyReply::failed with the exception's text.
using PrivateKeySigner = std::function<PrivateKeyReply(Object& object, const PrivateKeyRequest& request)>;

// ---- Certificate verification --------------------------------------------

// PeerCertificates is what a verify callback decides on. It owns its data.
struct PeerCertificates {
  // chain is the peer's certificates as sent, DER, the leaf first.
  std::vector<std::string> chain;
  // server_hostname is the name a client was wrapped with (none on a
  // server, or a client wrapped without one).
  std::optional<std::string> server_hostname;
  // server_side is true when a server is checking its client.
  bool server_side = false;
  // verify_code is the built-in verdict: VerifyCode::ok when the chain
  // verified against the Context's trust store and, when check_hostname is
  // on, matched the name; why not otherwise. With verify mode cert_none the
  // built-in checks still run, for the callback's sake.
  VerifyCode verify_code = VerifyCode::ok;
  // verify_message explains verify_code as the SSLCertVerificationError
  // would ("unable to get local issuer certificate"); "ok" when it is ok.
  std::string verify_message;
};

// VerifyReply is a verify callback's answer.
class VerifyReply {
 public:
  // Kind says which of the three answers a reply is.
  enum class Kind : std::uint8_t { accept, reject, pending };
  // accept returns a reply that lets the handshake go on.
  static VerifyReply accept() { return VerifyReply(Kind::accept, AlertDescription::close_notify, {}); }
  // reject returns a reply that aborts the handshake with |alert| to the
  // peer; the Object's SSLCertVerificationError says |message|.
  static VerifyReply reject(std::string message,
                            AlertDescription alert = AlertDescription::bad_certificate) {
    return VerifyReply(Kind::reject, alert, std::move(message));
  }
  // pending returns a reply that makes the engine call return
  // Status::want_certificate_verify (answer with
  // Object::complete_certificate_verify).
  static VerifyReply pending() { return VerifyReply(Kind::pending, AlertDescription::close_notify, {}); }

  // kind returns which of the three this is.
  Kind kind() const noexcept { return kind_; }
  // alert returns the alert a rejection sends.
  AlertDescription alert() const noexcept { return alert_; }
  // message returns a rejection's message.
  const std::string& message() const noexcept { return message_; }

 private:
  VerifyReply(Kind kind, AlertDescription alert, std::string message)
      : kind_(kind), alert_(alert), message_(std::move(message)) {}
  Kind kind_;
  AlertDescription alert_;
  std::string message_;
};

// VerifyCallback decides whether the peer's certificates are acceptable.
// With one set, it has the last word: to add a check (pinning, a
// revocation service) to the built-in ones, reject when verify_code is
// not VerifyCode::ok. It runs inside the engine call; it must not call the
// Object's engine calls. An exception escaping it rejects the certificates,
// with the exception's text as the message.
using VerifyCallback = std::function<VerifyReply(Object& object, const PeerCertificates& peer)>;

// ---- The ClientHello (servers) -------------------------------------------

// ClientHello is what a client offered, as a server's ClientHello callback
// sees it before any certificate is chosen. It owns its data.
struct ClientHello {
  std::optional<std::string> server_name;         // SNI host name
  std::vector<std::string> alpn_protocols;        // in the client's order
  std::vector<std::uint16_t> cipher_suites;       // protocol ids, in the client's order
  // supported_versions is the supported_versions extension's list
  // (0x0304 = TLS 1.3), or the legacy version alone without it.
  std::vector<std::uint16_t> supported_versions;
  std::vector<std::uint16_t> groups;                // named groups (0x001d = X25519)
  std::vector<std::uint16_t> signature_algorithms;  // SignatureSchemes
  std::vector<std::uint16_t> extensions;            // every extension type, in order
  // offers_session is true when the client offered a session to resume (a
  // TLS 1.3 pre_shared_key, a TLS 1.2 ticket or session ID).
  bool offers_session = false;
};

// ClientHelloReply is a ClientHello callback's answer.
class ClientHelloReply {
 public:
  // Kind says which of the three answers a reply is.
  enum class Kind : std::uint8_t { proceed, refuse, pending };
  // proceed returns a reply that lets the handshake go on (with the
  // Context the callback may have switched to, Object::set_context).
  static ClientHelloReply proceed() { return ClientHelloReply(Kind::proceed, AlertDescription::close_notify); }
  // refuse returns a reply that aborts the handshake with |alert|.
  static ClientHelloReply refuse(AlertDescription alert = AlertDescription::handshake_failure) {
    return ClientHelloReply(Kind::refuse, alert);
  }
  // pending returns a reply that makes the engine call return
  // Status::want_client_hello (answer with Object::complete_client_hello).
  static ClientHelloReply pending() { return ClientHelloReply(Kind::pending, AlertDescription::close_notify); }

  // kind returns which of the three this is.
  Kind kind() const noexcept { return kind_; }
  // alert returns the alert a refusal sends.
  AlertDescription alert() const noexcept { return alert_; }

 private:
  ClientHelloReply(Kind kind, AlertDescription alert) : kind_(kind), alert_(alert) {}
  Kind kind_;
  AlertDescription alert_;
};

// ClientHelloCallback looks at |hello| and may switch |object| to another
// Context (Object::set_context: another certificate) before it answers.
// It runs inside the engine call, before the SNI callback; it must not call
// the Object's engine calls. An exception escaping it refuses the
// handshake with handshake_failure.
using ClientHelloCallback = std::function<ClientHelloReply(Object& object, const ClientHello& hello)>;

}  // namespace sanstls

#endif  // SANSTLS_CALLBACKS_HPP
