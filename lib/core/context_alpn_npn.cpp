// Application protocol negotiation: the Context's ALPN and NPN protocols
// (set_alpn_protocols, set_npn_protocols) and the BoringSSL callbacks that
// choose among them.
#include <sanstls/context.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "internal.hpp"

namespace sanstls {

namespace {

// wire_list returns |protocols| as ALPN and NPN both carry them, each
// length-prefixed; |extension| names the one they are for in the errors.
std::string wire_list(const std::vector<std::string>& protocols, std::string_view extension) {
  std::string wire;
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      throw std::invalid_argument(std::string(extension) +
                                  " protocols must be 1 to 255 bytes long, got " +
                                  std::to_string(protocol.size()));
    }
    wire.push_back(static_cast<char>(protocol.size()));
    wire.append(protocol);
  }
  if (wire.size() > 0xffff) {
    throw std::invalid_argument(std::string(extension) + " protocol list is too long");
  }
  return wire;
}

int select_alpn(SSL*, const uint8_t** out, uint8_t* out_len, const uint8_t* in,
                unsigned in_len, void* arg) {
  const auto* state = static_cast<const ContextAccess::State*>(arg);
  if (state->alpn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  uint8_t* selected = nullptr;
  // Server preference: the first of our protocols the client also offers.
  int rc = SSL_select_next_proto(
      &selected, out_len, reinterpret_cast<const uint8_t*>(state->alpn_wire.data()),
      static_cast<unsigned>(state->alpn_wire.size()), in, in_len);
  if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// advertise_npn hands a server's protocols to BoringSSL for its
// ServerHello.
int advertise_npn(SSL*, const uint8_t** out, unsigned* out_len, void* arg) {
  const auto* state = static_cast<const ContextAccess::State*>(arg);
  if (state->npn_wire.empty()) return SSL_TLSEXT_ERR_NOACK;
  *out = reinterpret_cast<const uint8_t*>(state->npn_wire.data());
  *out_len = static_cast<unsigned>(state->npn_wire.size());
  return SSL_TLSEXT_ERR_OK;
}

// select_npn is a client's choice among the server's protocols, as
// OpenSSL's and Python's: the first of the server's that the client also
// has; with none in common, the client's first (NPN lets the client ask
// for a protocol the server did not list).
int select_npn(SSL*, uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len,
               void* arg) {
  const auto* state = static_cast<const ContextAccess::State*>(arg);
  if (state->npn_wire.empty()) return SSL_TLSEXT_ERR_ALERT_FATAL;  // never registered so
  SSL_select_next_proto(out, out_len, in, in_len,
                        reinterpret_cast<const uint8_t*>(state->npn_wire.data()),
                        static_cast<unsigned>(state->npn_wire.size()));
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

void Context::set_alpn_protocols(const std::vector<std::string>& protocols) {
  std::string wire = wire_list(protocols, "ALPN");
  ErrorGuard guard;
  if (SSL_CTX_set_alpn_protos(state_->ctx.get(), reinterpret_cast<const uint8_t*>(wire.data()),
                              static_cast<unsigned>(wire.size())) != 0) {
    throw_from_queue("cannot set ALPN protocols");
  }
  // A server with no ALPN protocols must not answer ALPN at all: BoringSSL
  // skips NPN for a ClientHello with ALPN whenever a selector is installed.
  SSL_CTX_set_alpn_select_cb(state_->ctx.get(), wire.empty() ? nullptr : &select_alpn,
                             wire.empty() ? nullptr : state_.get());
  state_->alpn_wire = std::move(wire);
}

void Context::set_npn_protocols(const std::vector<std::string>& protocols) {
  state_->npn_wire = wire_list(protocols, "NPN");
  SSL_CTX* ctx = state_->ctx.get();
  if (state_->npn_wire.empty()) {
    // No protocols: neither offer nor advertise NPN (BoringSSL's selection
    // needs a non-empty list of our own).
    SSL_CTX_set_next_protos_advertised_cb(ctx, nullptr, nullptr);
    SSL_CTX_set_next_proto_select_cb(ctx, nullptr, nullptr);
    return;
  }
  // As Python: one context serves as client and server alike, so both
  // callbacks are set; a client then offers NPN (when it may negotiate TLS
  // 1.2 or below) and a server answers it.
  SSL_CTX_set_next_protos_advertised_cb(ctx, &advertise_npn, state_.get());
  SSL_CTX_set_next_proto_select_cb(ctx, &select_npn, state_.get());
}

}  // namespace sanstls
