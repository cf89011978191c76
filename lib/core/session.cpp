#include <sanstls/session.hpp>

#include <openssl/mem.h>

#include <algorithm>
#include <cstring>

#include "internal.hpp"

namespace sanstls {

Session::Session(std::shared_ptr<const State> state) noexcept : state_(std::move(state)) {}

Session Session::from_bytes(const Context& context, std::span<const std::byte> bytes) {
  ErrorGuard guard;
  bssl::UniquePtr<SSL_SESSION> session(
      SSL_SESSION_from_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                             ContextAccess::native(context)));
  if (!session) throw SSLError(error_from_queue("not a serialised TLS session"));
  return SessionAccess::make(std::move(session), context);
}

std::string Session::id() const {
  unsigned int length = 0;
  const uint8_t* id = SSL_SESSION_get_id(state_->session.get(), &length);
  return std::string(reinterpret_cast<const char*>(id), length);
}

std::int64_t Session::time() const noexcept {
  return static_cast<std::int64_t>(SSL_SESSION_get_time(state_->session.get()));
}

std::int64_t Session::timeout() const noexcept {
  return static_cast<std::int64_t>(SSL_SESSION_get_timeout(state_->session.get()));
}

std::uint32_t Session::ticket_lifetime_hint() const noexcept {
  const SSL_SESSION* s = state_->session.get();
  if (!SSL_SESSION_has_ticket(s)) return 0;
  std::uint32_t hint = SSL_SESSION_get_ticket_lifetime_hint(s);
  if (hint != 0 || SSL_SESSION_get_protocol_version(s) < TLS1_3_VERSION) return hint;
  // A TLS 1.3 ticket's lifetime becomes the session's timeout in BoringSSL.
  return SSL_SESSION_get_timeout(s);
}

bool Session::has_ticket() const noexcept { return SSL_SESSION_has_ticket(state_->session.get()) != 0; }

bool Session::is_resumable() const noexcept {
  return SSL_SESSION_is_resumable(state_->session.get()) != 0;
}

std::string Session::to_bytes() const {
  ErrorGuard guard;
  uint8_t* data = nullptr;
  size_t length = 0;
  if (!SSL_SESSION_to_bytes(state_->session.get(), &data, &length)) {
    throw SSLError(error_from_queue("cannot serialise the session"));
  }
  bssl::UniquePtr<uint8_t> owned(data);
  return std::string(reinterpret_cast<const char*>(data), length);
}

bool operator==(const Session& a, const Session& b) {
  if (a.state_ == b.state_) return true;
  unsigned int la = 0;
  unsigned int lb = 0;
  const uint8_t* ia = SSL_SESSION_get_id(a.state_->session.get(), &la);
  const uint8_t* ib = SSL_SESSION_get_id(b.state_->session.get(), &lb);
  return la == lb && std::equal(ia, ia + la, ib);
}

}  // namespace sanstls
