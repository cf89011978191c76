// bench/asio_side.cpp: see asio_side.hpp.
#include "asio_side.hpp"

#include <openssl/ssl.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <sanstls/asio/stream.hpp>
#include <sanstls/boringssl.hpp>
#include <sanstls/context.hpp>

#include "asio_load.hpp"
#include "bench.hpp"
#include "measure.hpp"
#include "peers/asio_ssl/asio_ssl_impl.hpp"
#include "report.hpp"

namespace bench {

namespace {

using asio_load::ClientKind;

// SanstlsAsio is sanstls::asio::stream as an implementation of the
// loopback scenarios, configured as the bench's sanstls side is for its
// handshake scenarios: sanstls's defaults (a client that verifies the
// chain and the name), no tickets and no session cache.
class SanstlsAsio {
 public:
  using Stream = sanstls::asio::stream<asio::ip::tcp::socket>;
  static constexpr auto client_role = Stream::client;
  static constexpr auto server_role = Stream::server;

  SanstlsAsio()
      : client_(sanstls::Protocol::tls_client),
        other_ca_(sanstls::Protocol::tls_client),
        server_(sanstls::Protocol::tls_server) {
    const Credentials& c = credentials(sanstls::testing::KeyType::ec_p256);
    server_.load_cert_chain_pem(c.cert_pem, c.key_pem);
    client_.load_verify_locations({.cadata = sanstls::CaData::pem(c.ca_pem)});
    other_ca_.load_verify_locations(
        {.cadata = sanstls::CaData::pem(credentials(sanstls::testing::KeyType::rsa2048).ca_pem)});
    for (sanstls::Context* ctx : {&client_, &other_ca_, &server_}) {
      ctx->set_options(ctx->options() | sanstls::Options::no_ticket);
      SSL_CTX_set_session_cache_mode(sanstls::native_handle(*ctx), SSL_SESS_CACHE_OFF);
    }
    server_.set_num_tickets(0);
  }

  sanstls::Context& client_context(ClientKind kind) { return kind == ClientKind::other_ca ? other_ca_ : client_; }
  sanstls::Context& server_context() { return server_; }

  static void prepare_client(Stream& stream, ClientKind kind) {
    stream.set_server_hostname(kind == ClientKind::wrong_name ? "wrong.example" : kServerName);
  }

  static std::string describe(Stream& client) {
    sanstls::Object& tls = client.object();
    const std::optional<std::string> version = tls.version();
    const std::optional<sanstls::Cipher> cipher = tls.cipher();
    const char* group = SSL_get_curve_name(SSL_get_curve_id(sanstls::native_handle(tls)));
    const std::optional<sanstls::Session> session = tls.session();
    return version.value_or("(no version)") + " " + (cipher ? cipher->name : "(no cipher)") + " " +
           (group != nullptr ? group : "(no group)") +
           (session && session->is_resumable() ? ", a ticket" : ", no ticket");
  }

  static std::string explain(Stream& client, std::error_code ec) {
    std::shared_ptr<const sanstls::Error> error = client.last_error();
    return error ? error->message : ec.message();
  }

 private:
  sanstls::Context client_;
  sanstls::Context other_ca_;
  sanstls::Context server_;
};

// Arm is a LoopbackArm on |Impl|: the implementation's contexts and the
// workload over them.
template <class Impl>
class Arm final : public LoopbackArm {
 public:
  template <class... Args>
  Arm(const asio_load::Spec& spec, Args&&... args)
      : impl_(std::forward<Args>(args)...), workload_(asio_load::make_workload(impl_, spec)) {}

  double run(int count) override {
    Timer timer;
    workload_->run(count);
    return count / timer.seconds();
  }
  void close() override { workload_->close(); }

  Impl& impl() noexcept { return impl_; }
  asio_load::Workload& workload() noexcept { return *workload_; }

 private:
  Impl impl_;
  std::unique_ptr<asio_load::Workload> workload_;
};

// warm runs |arm|'s warm-up, checks what it negotiated and notes it with
// the verification checks under |label|; returns the warm-up's rate.
template <class Impl>
double warm(Arm<Impl>& arm, const asio_load::Spec& spec, const std::string& label, bool quick) {
  const std::string verification = asio_load::check_verification(arm.impl());
  const double rate = arm.run(asio_load::warm_count(spec, quick));
  const std::string negotiated = arm.workload().describe();
  if (negotiated != asio_load::kNegotiated) {
    fail(std::string(spec.name) + ": " + label + " negotiated " + negotiated + ", not " +
         std::string(asio_load::kNegotiated));
  }
  print_note(std::string(spec.name) + ": " + label + ": " + negotiated + "; " + verification);
  return rate;
}

}  // namespace

std::vector<std::string> loopback_scenarios() {
  std::vector<std::string> names;
  for (const asio_load::Spec& spec : asio_load::kSpecs) names.emplace_back(spec.name);
  return names;
}

LoopbackScenario setup_loopback(const std::string& name, bool quick, double target_seconds) {
  const asio_load::Spec* spec = asio_load::find_spec(name);
  if (spec == nullptr) fail("no loopback scenario " + name);
  const Credentials& ecdsa = credentials(sanstls::testing::KeyType::ec_p256);
  const asio_load::Pem pem{ecdsa.ca_pem, ecdsa.cert_pem, ecdsa.key_pem,
                           credentials(sanstls::testing::KeyType::rsa2048).ca_pem};
  auto sanstls = std::make_unique<Arm<SanstlsAsio>>(*spec);
  auto baseline = std::make_unique<Arm<asio_load::AsioSsl>>(*spec, pem);
  const double rate = warm(*sanstls, *spec, "sanstls::asio::stream", quick);
  warm(*baseline, *spec, "baseline (asio::ssl::stream on this BoringSSL)", quick);
  LoopbackScenario s;
  s.unit = spec->unit;
  s.count = asio_load::count_for(*spec, rate, target_seconds, quick);
  s.connections = asio_load::kConnections;
  s.sanstls = std::move(sanstls);
  s.baseline = std::move(baseline);
  return s;
}

}  // namespace bench
