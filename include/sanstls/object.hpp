// sanstls/object.hpp: one TLS connection over two MemoryBIOs, as Python's
// ssl.SSLObject. It does no I/O: the caller moves bytes between the
// MemoryBIOs and the network (or anything else) however it likes.
//
// Example:
//   sanstls::Context ctx(sanstls::Protocol::tls_client);
//   sanstls::MemoryBIO incoming, outgoing;
//   sanstls::Object tls = ctx.wrap_bio(incoming, outgoing, false, "example.com");
//   sanstls::Result r = tls.do_handshake();
//   if (r.status == sanstls::Status::want_read) {
//     std::string flight = outgoing.read();  // send this to the server,
//     // ...then incoming.write(reply) and call do_handshake() again.
//   }
//   // Once the handshake is done:
//   sanstls::Result w = tls.write(std::string_view("GET / HTTP/1.0\r\n\r\n"));
//   sanstls::ReadResult reply = tls.read(4096);
//   if (reply.status == sanstls::Status::closed) { /* peer closed cleanly */ }
//   (void)w;
//
// An Object keeps its Context and both MemoryBIOs alive. Calls never throw
// for TLS outcomes; they return a Result (see error.hpp). After a fatal
// error every call returns the same error, while the alert BoringSSL queued
// for the peer stays readable from outgoing.
//
// Threads: an Object, with its two MemoryBIOs, is used by one thread at a
// time: its calls, and those on its buffers, must not overlap (one thread,
// or turns handed over through a lock or a queue). It may move to another
// thread between calls. Objects of one Context run on many threads at once
// (context.hpp says what they share), and run its callbacks on their
// threads (callbacks.hpp). What an Object hands out is the caller's: a
// Session, a Result and its Error may go to any thread.
#ifndef SANSTLS_OBJECT_HPP
#define SANSTLS_OBJECT_HPP

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sanstls/callbacks.hpp>
#include <sanstls/certificate.hpp>
#include <sanstls/context.hpp>
#include <sanstls/error.hpp>
#include <sanstls/memory_bio.hpp>

namespace sanstls {

// channel_binding_types are the types get_channel_binding() knows, as
// Python's CHANNEL_BINDING_TYPES.
inline constexpr std::array<std::string_view, 2> channel_binding_types{"tls-unique",
                                                                       "tls-exporter"};

// max_read_size is the most bytes one read returns: a TLS record's
// plaintext (16 KiB). A buffer larger than this is never filled by one call.
inline constexpr std::size_t max_read_size = 16384;

// ReadResult is a Result that also carries the bytes read.
struct [[nodiscard]] ReadResult : Result {
  // data holds the bytes read, as many as bytes says.
  std::string data;
};

// Phase is where an Object is in its life. Object::phase() reports it; the
// engine calls move it (see docs/design.md, "An Object's phases"):
//
//   fresh --(first engine call)--> handshaking --(handshake done)--> established
//   handshaking --(a callback answered pending)--> waiting_for_* --(complete_*,
//       then an engine call)--> handshaking
//   established --(a close_notify one way: unwrap(), or the peer's)--> closing
//   closing --(the other way too)--> closed
//   any --(a fatal error)--> failed
//   established --(a TLS 1.2 renegotiation)--> handshaking --> established
enum class Phase : std::uint8_t {
  fresh,        // wrapped; no engine call has run (set_session is still allowed)
  handshaking,  // the handshake, or a TLS 1.2 renegotiation, is under way
  // The handshake waits for the application (callbacks.hpp); the engine
  // calls return the matching want_* status until it is answered.
  waiting_for_client_hello,        // a ClientHello callback answered pending
  waiting_for_certificate_verify,  // a verify callback answered pending
  waiting_for_private_key,         // a signer answered pending
  // early_data: TLS 1.3 0-RTT (Context::set_early_data_enabled). A client
  // has sent its ClientHello with a session that allows early data and may
  // write() early data until the server answers; a server has accepted
  // early data, which read_early_data() returns, and awaits the client's
  // Finished.
  early_data,
  established,  // the handshake is done: data flows both ways
  closing,      // one close_notify has gone one way; unwrap() completes the other
  closed,       // close_notify sent and received
  failed,       // a fatal error: every engine call returns it (Object::error())
};

// phase_name returns |phase|'s name as written above ("handshaking"), for
// logs and error messages.
std::string_view phase_name(Phase phase) noexcept;

// phase_description returns |phase| in words, as error messages use it
// ("waiting for a private-key operation").
std::string_view phase_description(Phase phase) noexcept;

// EarlyData says what became of TLS 1.3 0-RTT data on a connection
// (Object::early_data()).
struct EarlyData {
  // Status is how the early data fared.
  enum class Status : std::uint8_t {
    not_offered,  // no early data was offered (or enabled, or possible)
    offered,      // a client offered it; the server has not answered yet
    accepted,     // the server took it
    rejected,     // the server refused it: a client must send it again
  };
  // status is where the early data stands now.
  Status status = Status::not_offered;
  // reason is BoringSSL's word for the outcome, for logs: "accepted",
  // "disabled", "session_not_resumed", "hello_retry_request",
  // "alpn_mismatch", "ticket_age_skew", "peer_declined", ... (empty before
  // the handshake decided).
  std::string reason;
};

// Cipher is what Object::cipher() returns, as Python's 3-tuple.
struct Cipher {
  std::string name;      // "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"
  std::string protocol;  // the lowest version that defines it: "TLSv1.3", "TLSv1.2", "TLSv1.0"
  int secret_bits = 0;   // 128, 256, ...
};


// Object is one TLS connection, Python's SSLObject, made by
// Context::wrap_bio(). It can be moved, not copied: one owner drives it.
class Object {
 public:
  // Moving hands the connection over; a moved-from Object may only be
  // destroyed or assigned to.
  Object(Object&&) noexcept;
  // Move assignment drops this connection (no close_notify is sent) and
  // takes over the moved-from one's.
  Object& operator=(Object&&) noexcept;
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;
  ~Object();

  // do_handshake runs the handshake as far as the incoming bytes allow.
  // Returns done once it is complete (and on every later call), want_read
  // when it needs the peer's next flight, or error (a cert_verification
  // error when the peer's certificate or name failed).
  Result do_handshake();

  // read_into reads decrypted application data into |buffer|; bytes says
  // how many: at most one record's (max_read_size) per call, so an event
  // loop reads until want_read. Runs the handshake first if it is not
  // complete. Returns want_read when no complete record is buffered, closed
  // (0 bytes) once the peer's close_notify arrived, and an eof error when
  // incoming reached EOF without a close_notify ("EOF occurred in violation
  // of protocol").
  Result read_into(std::span<std::byte> buffer);

  // read reads up to |n| bytes (at most max_read_size), as read_into,
  // returning them in data.
  ReadResult read(std::size_t n = 1024);

  // write encrypts all of |data| into outgoing (bytes == data.size() when
  // done). Runs the handshake first if it is not complete. After unwrap()
  // it returns a zero_return error.
  Result write(std::span<const std::byte> data);
  // write, as above, for |data| as text.
  Result write(std::string_view data) { return write(as_bytes(data)); }

  // read_early_data reads, on a server, the client's TLS 1.3 0-RTT data
  // (Context::set_early_data_enabled): data that arrived before the
  // handshake completed and that an attacker may have replayed (RFC 8446
  // section 8), so an application acts on it only if doing it twice is
  // harmless. Returns done with bytes, want_read while more early data may
  // still come, and closed (0 bytes) once there is none left to read (or
  // there never was). read() and read_into() never return early data;
  // do_handshake() keeps what arrives (at most 14,336 bytes, BoringSSL's
  // limit) for this call, so the handshake never waits for it.
  //
  //   for (;;) {
  //     sanstls::Result r = tls.read_early_data(buffer);
  //     if (r.status != sanstls::Status::done) break;
  //     handle_idempotent(std::span(buffer).first(r.bytes));
  //   }
  Result read_early_data(std::span<std::byte> buffer);

  // early_data says whether 0-RTT data was offered, accepted or rejected,
  // and BoringSSL's reason. A client writes early data by calling write()
  // before the handshake completes, with a session (set_session) from a
  // server that allows it; the write returns done once the data is in
  // outgoing, before the server has answered. If the server rejects it, a
  // later call returns Status::early_data_rejected once (only when early
  // data was written: nothing else is lost), and the data must be written
  // again after the handshake:
  //
  //   tls.set_session(saved);
  //   (void)tls.write(request);  // done: it travels with the ClientHello
  //   for (;;) {
  //     sanstls::Result r = tls.do_handshake();
  //     if (r.status == sanstls::Status::early_data_rejected) { resend = true; continue; }
  //     ...  // want_read: feed incoming; done: break
  //   }
  //   if (resend) (void)tls.write(request);
  EarlyData early_data() const;

  // pending returns how many decrypted bytes are buffered and can be read
  // without more input.
  std::size_t pending() const noexcept;

  // unwrap starts or continues the TLS shutdown: it writes this side's
  // close_notify to outgoing, then returns want_read until the peer's
  // close_notify has been read from incoming, and done after that.
  Result unwrap();

  // ocsp_response returns the OCSP response (DER) the server stapled, for
  // a client that asked (Context::set_ocsp_stapling_requested): in a verify
  // callback or after the handshake, and on a resumed session what the
  // original handshake received. Nothing when the server sent none, on a
  // server, and before the server's certificate arrived. sanstls does not
  // check it; see docs/certificate-status.md for what to check.
  std::optional<std::string> ocsp_response() const;

  // signed_certificate_timestamps returns the SCTs the server sent in the
  // signed_certificate_timestamp extension, for a client that asked
  // (Context::set_signed_certificate_timestamps_requested): each the bytes
  // of one SerializedSCT (RFC 6962 section 3.3), in the server's order;
  // empty when it sent none. SCTs embedded in the certificate or in the
  // OCSP response are not included (they are the certificate's and the
  // response's bytes). Available when ocsp_response() is.
  std::vector<std::string> signed_certificate_timestamps() const;

  // certificate_compression returns the algorithm the server's
  // certificate was compressed with in this handshake (RFC 8879;
  // Context::set_certificate_compression): on a client once it has
  // decompressed it (in a verify callback and after), on a server once it
  // has sent it. Nothing when the certificate went uncompressed, when no
  // certificate was sent (a resumed session) and before then.
  std::optional<CertificateCompression> certificate_compression() const noexcept;

  // ech_accepted returns true when the handshake used Encrypted Client
  // Hello (Context::set_ech_keys, set_ech_config_list): on a server from
  // the moment the ClientHello was decrypted (its SNI and ClientHello
  // callbacks see the inner ClientHello), on a client once the server's
  // answer arrived. False for GREASE, a rejection, and without ECH.
  bool ech_accepted() const noexcept;

  // key_update sends a TLS 1.3 KeyUpdate (RFC 8446 section 4.6.3) and
  // moves this side's sending keys on; with |request_peer_update| the peer
  // is asked to move its own on too, which it does with its next record.
  // Long-lived connections use it to bound what one key encrypts. Not in
  // Python's ssl module. An error (not sticky) before the handshake is
  // complete ("HANDSHAKE_NOT_COMPLETE"), on TLS 1.2 ("WRONG_SSL_VERSION")
  // and after unwrap() ("PROTOCOL_IS_SHUTDOWN").
  //
  //   if (bytes_since_update > (std::uint64_t{1} << 34)) (void)tls.key_update(false);
  Result key_update(bool request_peer_update = false);

  // version returns "TLSv1.3", "TLSv1.2", ... once the handshake is
  // complete, and nothing before.
  std::optional<std::string> version() const;

  // cipher returns the negotiated cipher suite once the handshake is
  // complete, and nothing before.
  std::optional<Cipher> cipher() const;

  // selected_alpn_protocol returns the protocol both sides agreed on, or
  // nothing when ALPN was not used or had no match.
  std::optional<std::string> selected_alpn_protocol() const;

  // getpeercert returns the peer's certificate decoded as Python does:
  // nothing before the handshake completes or when the peer sent none, an
  // empty Certificate (Python's {}) when this side did not verify it
  // (verify mode cert_none), and the decoded fields otherwise. Decoding
  // can fail as Certificate::from_der does, and the connection is
  // unaffected: a DNS name, email or URI that is not UTF-8 throws
  // std::invalid_argument with the text of Python's UnicodeDecodeError, a
  // field that cannot be turned into text (a name value that is not a
  // string) throws SSLError.
  std::optional<Certificate> getpeercert() const;

  // getpeercert(binary_form) returns the DER bytes of the certificate the
  // peer sent, verified or not, or nothing before the handshake and when
  // it sent none.
  std::optional<std::string> getpeercert(binary_form_t) const;

  // is_handshake_complete returns true once do_handshake would return done.
  bool is_handshake_complete() const noexcept;

  // phase returns where the connection is in its life (see Phase):
  //   if (tls.phase() == sanstls::Phase::closing) (void)tls.unwrap();
  Phase phase() const noexcept;

  // server_side returns true for the server end of the connection.
  bool server_side() const noexcept;

  // server_hostname returns the name given to wrap_bio, if any.
  const std::optional<std::string>& server_hostname() const noexcept;

  // context returns the context the object was created from.
  const Context& context() const noexcept;

  // session_reused returns true when the handshake resumed a session.
  bool session_reused() const noexcept;

  // session returns the session to offer on a later connection to the same
  // server, or nothing before the handshake completes. In TLS 1.3 it is
  // resumable only once the client has read the server's tickets, which
  // arrive after the handshake: any read() processes them (want_read is
  // fine). A client then gets the newest ticket; a server its own view of
  // the session, as in Python.
  std::optional<Session> session() const;

  // set_session makes a client offer |session| (from this Context) in its
  // handshake; session_reused() says afterwards whether the server took it.
  // A session the server refuses, or a ticket it already used, gives a
  // full handshake, never a failure. Throws std::invalid_argument with
  // Python's messages: "Session refers to a different SSLContext.",
  // "Cannot set session for server-side SSLSocket.", "Cannot set session
  // after handshake.", and also once the handshake has started (BoringSSL
  // cannot change the offer then).
  void set_session(const Session& session);

  // incoming returns the MemoryBIO the peer's bytes are read from; a copy
  // of the handle shares its buffer.
  const MemoryBIO& incoming() const noexcept;
  // outgoing returns the MemoryBIO this side's bytes are written to.
  const MemoryBIO& outgoing() const noexcept;

  // set_user_data keeps |data| for the application: sanstls never reads it.
  // It is how a Context's callbacks, which are given the Object, find the
  // connection they belong to; sanstls::asio::stream keeps itself here
  // (stream::from). The Object does not own it.
  void set_user_data(void* data) noexcept;
  // user_data returns what set_user_data kept, or null.
  void* user_data() const noexcept;

  // set_context switches a server connection to another context while its
  // SNI callback runs (Python's SSLObject.context = ...), while its
  // ClientHello callback runs or is pending, or before the handshake: the
  // new context's certificate and key are used. Throws std::logic_error
  // elsewhere.
  void set_context(const Context& context);

  // ---- Answers to the application's pending callbacks (callbacks.hpp) ---
  //
  // Each answers the callback that returned pending; the Object then goes
  // on at its next engine call (do_handshake(), or a read or write). Each
  // may be called on any thread that is not using the Object at the same
  // time, at any later moment. Each throws std::logic_error, naming the
  // phase, when nothing of its kind is pending (the wrong phase, or a
  // second answer) and std::invalid_argument for a pending reply.
  // Destroying an Object with a callback pending is fine: nothing is
  // leaked and nothing is called later.
  //
  //   for (;;) {
  //     sanstls::Result r = tls.do_handshake();
  //     if (r.status == sanstls::Status::want_private_key) {
  //       tls.complete_private_key(sanstls::PrivateKeyReply::done(hsm.sign(job)));
  //       continue;  // or on a later turn of the loop
  //     }
  //     ...  // want_read: feed incoming; done: go on
  //   }

  // complete_private_key answers a pending signer (Status::want_private_key)
  // with a done reply (the signature or plaintext) or a failed one (the
  // handshake then fails, with the reason in the error).
  void complete_private_key(PrivateKeyReply reply);

  // complete_certificate_verify answers a pending verify callback
  // (Status::want_certificate_verify): accept, or reject with an alert and
  // the message the SSLCertVerificationError carries.
  void complete_certificate_verify(VerifyReply reply);

  // complete_client_hello answers a pending ClientHello callback
  // (Status::want_client_hello): proceed (after set_context, if another
  // certificate is wanted) or refuse with an alert.
  void complete_client_hello(ClientHelloReply reply);

  // ---- Ciphers, NPN, post-handshake authentication ----------------------

  // shared_ciphers returns, on a server, the cipher suites both sides
  // support, as (name, protocol, secret bits): the server's own suites, in
  // get_ciphers() order, TLS 1.3 ones included, that the client's
  // ClientHello offered. Nothing before the handshake and nothing on a
  // client, which cannot know the server's list; this is what Python's
  // documentation says and Python 3.11 does (Python 3.7's code returned its
  // own list on either side, even before the handshake).
  std::optional<std::vector<Cipher>> shared_ciphers() const;

  // compression returns the compression method: always nothing (BoringSSL
  // never compresses).
  std::optional<std::string> compression() const noexcept { return std::nullopt; }

  // selected_npn_protocol returns the protocol Next Protocol Negotiation
  // chose (see Context::set_npn_protocols), or nothing: before the
  // handshake, in TLS 1.3, or when ALPN was offered.
  std::optional<std::string> selected_npn_protocol() const;

  // verify_client_post_handshake throws NotImplementedError: BoringSSL has
  // no TLS 1.3 post-handshake authentication.
  void verify_client_post_handshake();

  // ---- Channel binding and exporters -----------------------------------

  // get_channel_binding returns the channel binding data of |cb_type|, the
  // same on both ends of a connection, or nothing before the handshake:
  // * "tls-unique" (RFC 5929): the verify_data of the handshake's first
  //   Finished message (the client's in a full handshake, the server's in a
  //   resumption), 12 bytes. TLS 1.2 and below only: nothing for TLS 1.3,
  //   which defines no tls-unique (RFC 8446 section C.5; Python on OpenSSL
  //   returns TLS 1.3's Finished instead), and nothing for a resumption of
  //   a session made without extended master secret (BoringSSL's rule).
  // * "tls-exporter" (RFC 9266): 32 bytes of export_keying_material with
  //   label "EXPORTER-Channel-Binding" and an empty context. TLS 1.3, and
  //   TLS 1.2 when extended master secret was negotiated (RFC 9266 section
  //   3; BoringSSL always offers it), nothing for TLS 1.2 without it.
  // Throws std::invalid_argument("'foo' channel binding type not
  // implemented") for any other type, as Python's ValueError.
  std::optional<std::string> get_channel_binding(std::string_view cb_type = "tls-unique") const;

  // export_keying_material derives |length| bytes from the connection's
  // secrets (RFC 5705 / RFC 8446 section 7.5) under |label| and, if given,
  // |context|; both ends get the same bytes. TLS 1.3 treats no context and
  // an empty one alike, TLS 1.2 does not. |label| should be registered with
  // IANA or start with "EXPERIMENTAL". Throws std::logic_error before the
  // handshake completes and SSLError when BoringSSL refuses (TLS 1.3 gives
  // at most 255 times the hash length).
  std::string export_keying_material(std::string_view label,
                                     std::optional<std::span<const std::byte>> context,
                                     std::size_t length) const;

  // error returns the fatal error the connection failed with, if any.
  std::shared_ptr<const Error> error() const noexcept;


 private:
  struct State;
  friend class Context;
  friend struct ObjectAccess;  // the engine's internal entry points
  explicit Object(std::unique_ptr<State> state) noexcept;
  std::unique_ptr<State> state_;
};

}  // namespace sanstls

#endif  // SANSTLS_OBJECT_HPP
