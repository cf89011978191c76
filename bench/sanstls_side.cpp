// bench/sanstls_side.cpp: see sanstls_side.hpp.
#include "sanstls_side.hpp"

#include <sanstls/boringssl.hpp>

namespace bench {

namespace {

[[noreturn]] void fail_result(const char* what, const sanstls::Result& r) {
  std::string msg = std::string("sanstls: ") + what + ": " +
                    std::string(sanstls::status_name(r.status));
  if (r.error) msg += ": " + r.error->message;
  fail(msg);
}

void configure(sanstls::Context& ctx, const Settings& s) {
  if (s.tls12) ctx.set_maximum_version(sanstls::TLSVersion::tlsv1_2);
  if (s.early_data) ctx.set_early_data_enabled(true);
  if (!s.ciphers.empty()) ctx.set_ciphers(s.ciphers);
  ctx.set_certificate_compression(s.compression);
  if (!s.resumption) {
    ctx.set_options(ctx.options() | sanstls::Options::no_ticket);
    SSL_CTX_set_session_cache_mode(sanstls::native_handle(ctx), SSL_SESS_CACHE_OFF);
  }
}

}  // namespace

// Signer holds the server's key outside its Context, as an HSM would, and
// the request the signer answered pending.
class SanstlsSide::Env::Signer {
 public:
  explicit Signer(const std::string& key_pem) : key(sanstls::PrivateKey::from_pem(key_pem)) {}
  sanstls::PrivateKey key;
  std::optional<sanstls::PrivateKeyRequest> pending;
};

SanstlsSide::Env::Env(const Settings& settings)
    : settings_(settings),
      client_(sanstls::Protocol::tls_client),
      server_(sanstls::Protocol::tls_server) {
  const Credentials& c = credentials_for(settings);
  if (settings.async_key) {
    signer_ = std::make_shared<Signer>(c.key_pem);
    server_.load_cert_chain_pem_with_signer(
        c.cert_pem, [signer = signer_.get()](sanstls::Object&, const sanstls::PrivateKeyRequest& request) {
          signer->pending = request;
          return sanstls::PrivateKeyReply::pending();
        });
  } else {
    server_.load_cert_chain_pem(c.cert_pem, c.key_pem);
  }
  client_.load_verify_locations({.cadata = sanstls::CaData::pem(c.ca_pem)});
  configure(client_, settings);
  configure(server_, settings);
  server_.set_num_tickets(static_cast<std::size_t>(settings.tls13_tickets));
}

SanstlsSide::Pair::Pair(Env& env, bool resume)
    : env_(env),
      client_(env.client_.wrap_bio(client_in_, client_out_, false, kServerName,
                                   resume ? env.latest_ : std::nullopt)),
      server_(env.server_.wrap_bio(server_in_, server_out_, true)) {}

void SanstlsSide::Pair::move(Side from) {
  sanstls::MemoryBIO& out = from == Side::client ? client_out_ : server_out_;
  sanstls::MemoryBIO& in = from == Side::client ? server_in_ : client_in_;
  std::span<const std::byte> bytes = out.readable();
  if (bytes.empty()) return;
  (from == Side::client ? client_sent_ : server_sent_) += bytes.size();
  in.write(bytes);
  out.consume(bytes.size());
}

void SanstlsSide::Pair::handshake() {
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < 10 && !(client_done && server_done); ++round) {
    if (!client_done) {
      sanstls::Result r = client_.do_handshake();
      if (r.status == sanstls::Status::done) {
        client_done = true;
      } else if (r.status != sanstls::Status::want_read) {
        fail_result("client handshake", r);
      }
    }
    move(Side::client);
    if (!server_done) {
      Env::Signer* signer = env_.signer_.get();
      if (signer != nullptr && signer->pending) {
        // The signature of the previous turn's request.
        server_.complete_private_key(signer->key.perform(*signer->pending));
        signer->pending.reset();
      }
      sanstls::Result r = server_.do_handshake();
      if (r.status == sanstls::Status::done) {
        server_done = true;
      } else if (r.status != sanstls::Status::want_read &&
                 !(r.status == sanstls::Status::want_private_key && signer != nullptr)) {
        fail_result("server handshake", r);
      }
    }
    move(Side::server);
  }
  if (!client_done || !server_done) fail("sanstls: handshake did not complete");
}

void SanstlsSide::Pair::settle() {
  static constexpr std::byte kByte[1] = {std::byte{'s'}};
  write(Side::server, kByte);
  std::byte scratch[16];
  Receiver receiver(false);
  read_all(Side::client, scratch, receiver);
  read_all(Side::server, scratch, receiver);
  if (receiver.received() != 1) fail("sanstls: settle: the server's byte did not arrive");
  if (env_.settings_.resumption) {
    std::optional<sanstls::Session> session = client_.session();
    if (session && session->is_resumable()) env_.latest_ = std::move(session);
  }
}

void SanstlsSide::Pair::write(Side from, std::span<const std::byte> data) {
  sanstls::Object& o = from == Side::client ? client_ : server_;
  sanstls::Result r = o.write(data);
  if (r.status != sanstls::Status::done || r.bytes != data.size()) fail_result("write", r);
  move(from);
}

void SanstlsSide::Pair::read_all(Side to, std::span<std::byte> buffer, Receiver& receiver) {
  sanstls::Object& o = to == Side::client ? client_ : server_;
  for (;;) {
    sanstls::Result r = o.read_into(buffer);
    if (r.status == sanstls::Status::done) {
      receiver.take(buffer.first(r.bytes));
    } else if (r.status == sanstls::Status::want_read) {
      return;
    } else {
      fail_result("read", r);
    }
  }
}

void SanstlsSide::Pair::write_early(std::span<const std::byte> data) {
  sanstls::Result r = client_.write(data);
  if (r.status != sanstls::Status::done || r.bytes != data.size()) fail_result("early write", r);
  move(Side::client);
}

std::size_t SanstlsSide::Pair::read_early(std::span<std::byte> buffer) {
  std::size_t total = 0;
  for (;;) {
    sanstls::Result r = server_.read_early_data(buffer.subspan(total));
    if (r.status != sanstls::Status::done || r.bytes == 0) return total;
    total += r.bytes;
  }
}

bool SanstlsSide::Pair::early_accepted() const {
  return client_.early_data().status == sanstls::EarlyData::Status::accepted &&
         server_.early_data().status == sanstls::EarlyData::Status::accepted;
}

std::string SanstlsSide::Pair::cipher() const {
  auto c = client_.cipher();
  return c ? c->name : std::string("(none)");
}

std::string SanstlsSide::Pair::version() const {
  auto v = client_.version();
  return v ? *v : std::string("(none)");
}

std::size_t SanstlsSide::Pair::buffered_capacity() const noexcept {
  return client_in_.capacity() + client_out_.capacity() + server_in_.capacity() +
         server_out_.capacity();
}

}  // namespace bench
