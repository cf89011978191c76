// What BoringSSL calls back during a handshake, run against the Object's
// state: the server name (SNI), the ClientHello, certificate verification,
// the private-key operations of a signer, the handshake's progress (info)
// and new sessions. Each reports to Object::State with on(), and those that
// ask the application may leave the handshake waiting for its answer
// (Object::complete_*). The callbacks a Context setting installs (ALPN, NPN,
// key logging, passwords, session cache, ticket keys) are with that setting
// in the context_*.cpp files.
#include <sanstls/object.hpp>

#include <openssl/bytestring.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "object_state.hpp"

namespace sanstls {

namespace {

// CallbackScope reports that an application callback runs for as long as
// it lives: |started| now and |ended| when it goes, even by exception.
class CallbackScope {
 public:
  using Event = ObjectAccess::State::Event;
  CallbackScope(ObjectAccess::State& state, Event started, Event ended) : state_(state), ended_(ended) {
    state_.on(started);
  }
  ~CallbackScope() { state_.on(ended_); }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  ObjectAccess::State& state_;
  Event ended_;
};

}  // namespace

namespace {

// verdict_of applies a verify callback's accept or reject to |s|.
ssl_verify_result_t verdict_of(ObjectAccess::State& s, const VerifyReply& reply, uint8_t* out_alert) {
  if (reply.kind() == VerifyReply::Kind::accept) {
    s.verdict = PeerVerdict{};
    ERR_clear_error();
    return ssl_verify_ok;
  }
  s.verdict.code = X509_V_ERR_APPLICATION_VERIFICATION;
  s.verdict.message = reply.message().empty() ? "rejected by the verify callback" : reply.message();
  *out_alert = static_cast<uint8_t>(reply.alert());
  return ssl_verify_invalid;
}

}  // namespace

ssl_verify_result_t ObjectAccess::on_verify(SSL* ssl, uint8_t* out_alert) {
  ObjectAccess::State* s = state_of(ssl);
  if (s == nullptr) {
    *out_alert = SSL_AD_INTERNAL_ERROR;
    return ssl_verify_invalid;
  }
  if (s->phase == Phase::waiting_for_certificate_verify) {
    // BoringSSL asks again after a pending answer.
    if (!s->verify_answer) return ssl_verify_retry;
    const VerifyReply reply = *s->verify_answer;
    s->verify_answer.reset();
    return verdict_of(*s, reply, out_alert);
  }
  const VerifyCallback& callback = ContextAccess::state(s->context).verify_callback;
  // CERT_NONE: BoringSSL would accept whatever the verification said, and
  // nothing reports it (getpeercert() is then empty, as in Python).
  if (!s->verifies_peer && !callback) return ssl_verify_ok;
  PeerCheck check;
  check.server = s->server_side;
  // A server that rejected ECH answered the outer ClientHello: it proves
  // itself for the configuration's public name, whatever the name checks
  // say, and the handshake will fail with ECH_REJECTED however it goes.
  const std::optional<std::string> public_name = s->server_side ? std::nullopt : ech_name_override(ssl);
  if (public_name) {
    check.host = &*public_name;
    check.host_flags = s->host_flags;
  } else if (s->checks_host && s->server_hostname) {
    check.host = &*s->server_hostname;
    check.host_is_ip = s->hostname_is_ip;
    check.host_flags = s->host_flags;
  }
  // The context in use now: after an SNI switch, the new one's store.
  const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(ssl);
  s->verdict = verify_peer_chain(ContextAccess::state(s->context), chain, check);
  if (public_name && s->verdict.code == X509_V_ERR_HOSTNAME_MISMATCH && s->verdict.message.empty()) {
    s->verdict.message = "Hostname mismatch, certificate is not valid for the ECH public name '" + *public_name +
                         "' (the server rejected ECH).";
  }
  if (!callback || s->self == nullptr) {
    if (s->verdict.code == X509_V_OK) {
      ERR_clear_error();
      return ssl_verify_ok;
    }
    *out_alert = static_cast<uint8_t>(SSL_alert_from_verify_result(s->verdict.code));
    return ssl_verify_invalid;
  }

  PeerCertificates peer;
  for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(chain); ++i) {
    const CRYPTO_BUFFER* cert = sk_CRYPTO_BUFFER_value(chain, i);
    peer.chain.emplace_back(reinterpret_cast<const char*>(CRYPTO_BUFFER_data(cert)), CRYPTO_BUFFER_len(cert));
  }
  peer.server_hostname = public_name ? public_name : s->server_hostname;
  peer.server_side = s->server_side;
  peer.verify_code = static_cast<VerifyCode>(s->verdict.code);
  if (s->verdict.code == X509_V_OK) {
    peer.verify_message = "ok";
  } else if (!s->verdict.message.empty()) {
    peer.verify_message = s->verdict.message;
  } else {
    // As the SSLCertVerificationError would say it.
    peer.verify_message = s->verification_error(ERR_PACK(ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED)).verify_message;
  }
  ERR_clear_error();
  VerifyReply reply = VerifyReply::pending();
  try {
    const VerifyCallback keep = callback;
    reply = keep(*s->self, peer);
  } catch (const std::exception& e) {
    reply = VerifyReply::reject(std::string("the verify callback threw: ") + e.what());
  } catch (...) {
    reply = VerifyReply::reject("the verify callback threw an exception that is not a std::exception");
  }
  if (reply.kind() == VerifyReply::Kind::pending) return ssl_verify_retry;
  return verdict_of(*s, reply, out_alert);
}

namespace {

// key_result hands a signer's done or failed reply to BoringSSL.
ssl_private_key_result_t key_result(ObjectAccess::State& s, const PrivateKeyReply& reply, uint8_t* out,
                                    size_t* out_len, size_t max_out) {
  if (reply.kind() == PrivateKeyReply::Kind::failed) {
    s.callback_error = "the signer failed: " + reply.reason();
    return ssl_private_key_failure;
  }
  const std::string& output = reply.output();
  if (output.empty() || output.size() > max_out) {
    s.callback_error = "the signer returned " + std::to_string(output.size()) +
                       " bytes (at most " + std::to_string(max_out) + " fit)";
    return ssl_private_key_failure;
  }
  std::memcpy(out, output.data(), output.size());
  *out_len = output.size();
  return ssl_private_key_success;
}

ssl_private_key_result_t start_key_operation(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out,
                                             PrivateKeyRequest request) {
  ObjectAccess::State* s = ObjectAccess::state_of(ssl);
  if (s == nullptr || s->self == nullptr) return ssl_private_key_failure;
  const PrivateKeySigner& signer = ContextAccess::state(s->context).signer;
  if (!signer) {
    s->callback_error = "the Context has no signer";
    return ssl_private_key_failure;
  }
  PrivateKeyReply reply = PrivateKeyReply::pending();
  try {
    const PrivateKeySigner keep = signer;
    reply = keep(*s->self, request);
  } catch (const std::exception& e) {
    reply = PrivateKeyReply::failed(std::string("it threw: ") + e.what());
  } catch (...) {
    reply = PrivateKeyReply::failed("it threw an exception that is not a std::exception");
  }
  if (reply.kind() == PrivateKeyReply::Kind::pending) return ssl_private_key_retry;
  return key_result(*s, reply, out, out_len, max_out);
}

ssl_private_key_result_t on_sign(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out,
                                 uint16_t algorithm, const uint8_t* in, size_t in_len) {
  PrivateKeyRequest request;
  request.operation = PrivateKeyOperation::sign;
  request.algorithm = algorithm;
  if (const char* name = SSL_get_signature_algorithm_name(algorithm, /*include_curve=*/1)) {
    request.algorithm_name = name;
  }
  request.input.assign(reinterpret_cast<const char*>(in), in_len);
  return start_key_operation(ssl, out, out_len, max_out, std::move(request));
}

ssl_private_key_result_t on_decrypt(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out,
                                    const uint8_t* in, size_t in_len) {
  PrivateKeyRequest request;
  request.operation = PrivateKeyOperation::decrypt;
  request.input.assign(reinterpret_cast<const char*>(in), in_len);
  return start_key_operation(ssl, out, out_len, max_out, std::move(request));
}

ssl_private_key_result_t on_complete(SSL* ssl, uint8_t* out, size_t* out_len, size_t max_out) {
  ObjectAccess::State* s = ObjectAccess::state_of(ssl);
  if (s == nullptr) return ssl_private_key_failure;
  if (!s->key_answer) return ssl_private_key_retry;
  const PrivateKeyReply reply = std::move(*s->key_answer);
  s->key_answer.reset();
  return key_result(*s, reply, out, out_len, max_out);
}

}  // namespace

const SSL_PRIVATE_KEY_METHOD ObjectAccess::kSignerMethod = {on_sign, on_decrypt, on_complete};

int ObjectAccess::on_servername(SSL* ssl, int* alert, void*) {
  ObjectAccess::State* s = state_of(ssl);
  if (s == nullptr || s->self == nullptr) return SSL_TLSEXT_ERR_OK;
  if (s->hello_refusal) {
    if (s->callback_error.empty()) {
      s->callback_error = "the ClientHello callback refused the handshake with alert " +
                          std::to_string(static_cast<int>(*s->hello_refusal));
    }
    *alert = static_cast<int>(*s->hello_refusal);
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  const Context& context = s->original_context ? *s->original_context : s->context;
  const Context::SNICallback& callback = ContextAccess::state(context).sni_callback;
  if (!callback) return SSL_TLSEXT_ERR_OK;
  std::optional<std::string> name;
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) name = sni;
  std::optional<AlertDescription> result;
  try {
    CallbackScope scope(*s, ObjectAccess::State::Event::sni_callback_started,
                        ObjectAccess::State::Event::sni_callback_ended);
    // The callback may replace s->context; it gets its own handle.
    const Context this_context = context;
    result = callback(*s->self, name, this_context);
  } catch (const std::exception& e) {
    // As CPython: whatever the callback threw ends the handshake with
    // handshake_failure; it must not unwind through BoringSSL. The server's
    // error names it.
    s->callback_error = std::string("the SNI callback threw: ") + e.what();
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  } catch (...) {
    s->callback_error = "the SNI callback threw an exception that is not a std::exception";
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (!result) return SSL_TLSEXT_ERR_OK;
  *alert = static_cast<int>(*result);
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

void ObjectAccess::on_info(const SSL* ssl, int where, int) {
  if ((where & (SSL_CB_HANDSHAKE_START | SSL_CB_HANDSHAKE_DONE)) == 0) return;
  ObjectAccess::State* s = state_of(ssl);
  const Context* context = session_context_of(ssl);
  if (s == nullptr || context == nullptr) return;
  auto& c = ContextAccess::state(*context).counters;
  if ((where & SSL_CB_HANDSHAKE_START) != 0) {
    if (s->server_side) {
      ++c.accept;
    } else if (s->handshakes_done > 0) {
      ++c.connect_renegotiate;
    } else {
      ++c.connect;
    }
    s->on(ObjectAccess::State::Event::handshake_started);
  }
  if ((where & SSL_CB_HANDSHAKE_DONE) != 0) {
    s->on(ObjectAccess::State::Event::handshake_finished);
    if (!s->server_side) {
      ++c.connect_good;
    } else {
      ++c.accept_good;
      if (SSL_session_reused(ssl)) {
        ++c.hits;
      } else if (s->offered_session) {
        ++c.misses;
      }
    }
  }
}

namespace {

// u16_list reads a list of 16-bit values that fills |in|.
std::vector<std::uint16_t> u16_list(CBS in) {
  std::vector<std::uint16_t> out;
  uint16_t v = 0;
  while (CBS_get_u16(&in, &v)) out.push_back(v);
  return out;
}

// client_hello_of copies what the application may look at from |hello|.
// Malformed extensions (BoringSSL has not parsed them yet) leave their
// field empty: the handshake rejects them later.
ClientHello client_hello_of(const SSL_CLIENT_HELLO* hello, bool offers_session) {
  ClientHello out;
  out.offers_session = offers_session;
  if (const char* sni = SSL_get_servername(hello->ssl, TLSEXT_NAMETYPE_host_name)) out.server_name = sni;
  CBS suites;
  CBS_init(&suites, hello->cipher_suites, hello->cipher_suites_len);
  out.cipher_suites = u16_list(suites);
  const uint8_t* data = nullptr;
  size_t len = 0;
  CBS body;
  CBS list;
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                           &data, &len)) {
    CBS_init(&body, data, len);
    CBS name;
    if (CBS_get_u16_length_prefixed(&body, &list)) {
      while (CBS_get_u8_length_prefixed(&list, &name)) {
        out.alpn_protocols.emplace_back(reinterpret_cast<const char*>(CBS_data(&name)), CBS_len(&name));
      }
    }
  }
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_supported_versions, &data, &len)) {
    CBS_init(&body, data, len);
    if (CBS_get_u8_length_prefixed(&body, &list)) out.supported_versions = u16_list(list);
  } else {
    out.supported_versions.push_back(hello->version);
  }
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_supported_groups, &data, &len)) {
    CBS_init(&body, data, len);
    if (CBS_get_u16_length_prefixed(&body, &list)) out.groups = u16_list(list);
  }
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_signature_algorithms, &data, &len)) {
    CBS_init(&body, data, len);
    if (CBS_get_u16_length_prefixed(&body, &list)) out.signature_algorithms = u16_list(list);
  }
  CBS extensions;
  CBS_init(&extensions, hello->extensions, hello->extensions_len);
  uint16_t type = 0;
  CBS ignored;
  while (CBS_get_u16(&extensions, &type) && CBS_get_u16_length_prefixed(&extensions, &ignored)) {
    out.extensions.push_back(type);
  }
  return out;
}

}  // namespace

ssl_select_cert_result_t ObjectAccess::on_client_hello(const SSL_CLIENT_HELLO* hello) {
  ObjectAccess::State* s = state_of(hello->ssl);
  if (s == nullptr) return ssl_select_cert_success;
  if (s->phase == Phase::waiting_for_client_hello) {
    // BoringSSL asks again after a pending answer.
    if (!s->hello_answer) return ssl_select_cert_retry;
    const ClientHelloReply reply = *s->hello_answer;
    s->hello_answer.reset();
    if (reply.kind() == ClientHelloReply::Kind::refuse) s->hello_refusal = reply.alert();
    return ssl_select_cert_success;
  }
  remember_client_hello(hello, s->shared_suites);
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_cert_compression, &data, &len)) {
    s->compression_offered = compression_offered(data, len);
  }
  // A TLS 1.3 client offers a session as a pre_shared_key; a TLS 1.2 one as
  // a non-empty session ticket or a session ID. TLS 1.3-capable clients
  // send a random session ID anyway, so an ID counts only without
  // supported_versions.
  bool psk = SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_pre_shared_key, &data, &len) != 0;
  bool ticket = SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_session_ticket, &data, &len) != 0 &&
                len > 0;
  bool tls13 = SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_supported_versions, &data, &len) != 0;
  const bool offered = psk || ticket || (!tls13 && hello->session_id_len > 0);
  if (offered) s->on(ObjectAccess::State::Event::session_offered);
  if (SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_early_data, &data, &len)) {
    s->on(ObjectAccess::State::Event::early_data_offered);  // and, unless accepted below, rejected
    auto& cs = ContextAccess::state(s->original_context ? *s->original_context : s->context);
    // Single use: the first PSK identity is the ticket BoringSSL would
    // resume (RFC 8446 section 4.2.11); a second offer of its early data
    // is a replay.
    CBS body;
    CBS identities;
    CBS identity;
    if (s->early_enabled && cs.early_data_single_use &&
        SSL_early_callback_ctx_extension_get(hello, TLSEXT_TYPE_pre_shared_key, &data, &len)) {
      CBS_init(&body, data, len);
      const bool parsed = CBS_get_u16_length_prefixed(&body, &identities) &&
                          CBS_get_u16_length_prefixed(&identities, &identity);
      if (!parsed || !cs.used_tickets.first_use(std::string_view(
                         reinterpret_cast<const char*>(CBS_data(&identity)), CBS_len(&identity)))) {
        SSL_set_early_data_enabled(hello->ssl, 0);
      }
    }
  }

  const Context& context = s->original_context ? *s->original_context : s->context;
  const ClientHelloCallback& callback = ContextAccess::state(context).client_hello_callback;
  if (!callback || s->self == nullptr) return ssl_select_cert_success;
  std::optional<ClientHelloReply> reply;
  try {
    CallbackScope scope(*s, ObjectAccess::State::Event::client_hello_callback_started,
                        ObjectAccess::State::Event::client_hello_callback_ended);
    const ClientHelloCallback keep = callback;  // it may replace the context
    reply = keep(*s->self, client_hello_of(hello, offered));
  } catch (const std::exception& e) {
    s->callback_error = std::string("the ClientHello callback threw: ") + e.what();
    s->hello_refusal = AlertDescription::handshake_failure;
    return ssl_select_cert_success;
  } catch (...) {
    s->callback_error = "the ClientHello callback threw an exception that is not a std::exception";
    s->hello_refusal = AlertDescription::handshake_failure;
    return ssl_select_cert_success;
  }
  switch (reply->kind()) {
    case ClientHelloReply::Kind::proceed: return ssl_select_cert_success;
    case ClientHelloReply::Kind::pending: return ssl_select_cert_retry;
    case ClientHelloReply::Kind::refuse:
      // The refusal goes out from on_servername, which BoringSSL calls
      // next and which, unlike this callback, can choose the alert.
      s->hello_refusal = reply->alert();
      return ssl_select_cert_success;
  }
  return ssl_select_cert_success;
}

int ObjectAccess::on_new_session(SSL* ssl, SSL_SESSION* session) {
  ObjectAccess::State* s = state_of(ssl);
  if (s == nullptr || s->server_side) return 0;  // BoringSSL keeps its reference
  s->latest_session.reset(session);             // takes BoringSSL's reference
  return 1;
}

}  // namespace sanstls
