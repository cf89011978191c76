// OCSP stapling and certificate transparency: what a server sends
// (set_ocsp_response, set_signed_certificate_timestamps) and what a client
// asks for and receives (Object::ocsp_response,
// Object::signed_certificate_timestamps).
#include <openssl/bytestring.h>

#include <stdexcept>

#include "internal.hpp"

namespace sanstls {

namespace {

// valid_sct_list checks the shape BoringSSL requires of a
// SignedCertificateTimestampList (ssl_is_sct_list_valid): a non-empty list
// of non-empty, length-prefixed SCTs and nothing after it.
bool valid_sct_list(std::span<const std::byte> list) {
  CBS cbs, scts;
  CBS_init(&cbs, reinterpret_cast<const std::uint8_t*>(list.data()), list.size());
  if (!CBS_get_u16_length_prefixed(&cbs, &scts) || CBS_len(&cbs) != 0 || CBS_len(&scts) == 0) return false;
  while (CBS_len(&scts) != 0) {
    CBS sct;
    if (!CBS_get_u16_length_prefixed(&scts, &sct) || CBS_len(&sct) == 0) return false;
  }
  return true;
}

std::optional<std::string> copy_of(std::optional<std::span<const std::byte>> bytes) {
  if (!bytes) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

}  // namespace

void Context::set_ocsp_response(std::optional<std::span<const std::byte>> der) {
  if (der && der->empty()) {
    throw std::invalid_argument("set_ocsp_response: an empty OCSP response (use std::nullopt to staple none)");
  }
  state_->ocsp_response = copy_of(der);
}

const std::optional<std::string>& Context::ocsp_response() const noexcept { return state_->ocsp_response; }

void Context::set_signed_certificate_timestamps(std::optional<std::span<const std::byte>> list) {
  if (list && !valid_sct_list(*list)) {
    throw std::invalid_argument(
        "set_signed_certificate_timestamps: not a SignedCertificateTimestampList (a 2-byte length, then "
        "one or more non-empty SCTs, each with a 2-byte length)");
  }
  state_->sct_list = copy_of(list);
}

const std::optional<std::string>& Context::signed_certificate_timestamps() const noexcept {
  return state_->sct_list;
}

void Context::set_ocsp_stapling_requested(bool requested) { state_->ocsp_requested = requested; }
bool Context::ocsp_stapling_requested() const noexcept { return state_->ocsp_requested; }

void Context::set_signed_certificate_timestamps_requested(bool requested) { state_->scts_requested = requested; }
bool Context::signed_certificate_timestamps_requested() const noexcept { return state_->scts_requested; }

void apply_certificate_status(SSL* ssl, const ContextAccess::State& context, bool server_side) {
  if (!server_side) {
    if (context.ocsp_requested) SSL_enable_ocsp_stapling(ssl);
    if (context.scts_requested) SSL_enable_signed_cert_timestamps(ssl);
    return;
  }
  // An SSL that switched Context got a fresh copy of the new SSL_CTX's
  // certificate configuration, which never holds these: set, or leave
  // unset, for this Context.
  if (const auto& der = context.ocsp_response) {
    if (!SSL_set_ocsp_response(ssl, reinterpret_cast<const std::uint8_t*>(der->data()), der->size())) {
      throw_from_queue("cannot set the OCSP response");
    }
  }
  if (const auto& list = context.sct_list) {
    if (!SSL_set_signed_cert_timestamp_list(ssl, reinterpret_cast<const std::uint8_t*>(list->data()),
                                            list->size())) {
      throw_from_queue("cannot set the SCT list");
    }
  }
}

std::optional<std::string> Object::ocsp_response() const {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  SSL_get0_ocsp_response(ObjectAccess::native(*this), &data, &size);
  if (size == 0) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(data), size);
}

std::vector<std::string> Object::signed_certificate_timestamps() const {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  SSL_get0_signed_cert_timestamp_list(ObjectAccess::native(*this), &data, &size);
  std::vector<std::string> out;
  // BoringSSL checked the list's shape when it arrived.
  CBS cbs, scts, sct;
  CBS_init(&cbs, data, size);
  if (size == 0 || !CBS_get_u16_length_prefixed(&cbs, &scts)) return out;
  while (CBS_get_u16_length_prefixed(&scts, &sct)) {
    out.emplace_back(reinterpret_cast<const char*>(CBS_data(&sct)), CBS_len(&sct));
  }
  return out;
}

}  // namespace sanstls
