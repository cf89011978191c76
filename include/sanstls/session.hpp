// sanstls/session.hpp: a TLS session a client can resume, as Python's
// ssl.SSLSession.
//
// Example:
//   // A client cache keeps resumable sessions, serialised.
//   std::vector<std::string> cache;
//   auto remember = [&cache](const sanstls::Session& s) {
//     if (s.is_resumable()) cache.push_back(s.to_bytes());
//   };
//   (void)remember;
//   // Where it comes from, and where it goes (context.hpp, object.hpp):
//   //   std::optional<sanstls::Session> s = first.session();  // after the handshake;
//   //                     // for TLS 1.3 once read() took the server's tickets
//   //   sanstls::Object next = ctx.wrap_bio(in, out, false, "example.com", s);
//   //   ... handshake ...; next.session_reused() is then true.
//   //   sanstls::Session again = sanstls::Session::from_bytes(ctx, sanstls::as_bytes(blob));
//
// A Session is a cheap, immutable handle: copies share one session, which
// stays valid after its connection is gone. It belongs to the Context of
// the connection it came from: only objects of that Context can resume it
// (Python's "Session refers to a different SSLContext.").
//
// Threads: a Session may be used from any number of threads at once: its
// calls only read, and connections on several threads may offer the same
// session at the same time (BoringSSL never changes a session once it is
// made; a resumption makes a new one). The Session variable itself is
// assigned by one thread at a time, as any object.
#ifndef SANSTLS_SESSION_HPP
#define SANSTLS_SESSION_HPP

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace sanstls {

class Context;

// Session is a TLS session from Object::session(), to offer again with
// Context::wrap_bio() or Object::set_session(); see the file comment.
class Session {
 public:
  // from_bytes restores a session that to_bytes() wrote, for |context|.
  // Throws SSLError when |bytes| is not a serialised session.
  static Session from_bytes(const Context& context, std::span<const std::byte> bytes);

  // id returns the session's identifier (bytes): for a TLS 1.3 ticket or a
  // TLS 1.2 ticket, the client-side digest BoringSSL derives from it.
  std::string id() const;

  // time returns when the session was established, in seconds since the
  // Unix epoch.
  std::int64_t time() const noexcept;

  // timeout returns how many seconds after time() the session may be
  // resumed.
  std::int64_t timeout() const noexcept;

  // ticket_lifetime_hint returns the lifetime in seconds the server gave
  // its ticket, 0 when there is none. BoringSSL keeps a TLS 1.3 ticket's
  // lifetime only as the session's timeout; that is what is returned then.
  std::uint32_t ticket_lifetime_hint() const noexcept;

  // has_ticket returns true when the server sent a session ticket.
  bool has_ticket() const noexcept;

  // is_resumable returns true when offering the session can resume it: a
  // TLS 1.3 session is resumable only once a ticket came with it.
  bool is_resumable() const noexcept;

  // to_bytes serialises the session, secrets included: keep it as safe as
  // a private key.
  std::string to_bytes() const;

  // Two sessions are equal when their ids are, as in Python.
  friend bool operator==(const Session& a, const Session& b);

 private:
  struct State;
  friend struct SessionAccess;  // the engine makes and unwraps sessions
  explicit Session(std::shared_ptr<const State> state) noexcept;
  std::shared_ptr<const State> state_;
};

}  // namespace sanstls

#endif  // SANSTLS_SESSION_HPP
