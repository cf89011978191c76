#include "support.hpp"

#include <catch.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <random>

namespace test {

const Pki& pki() {
  static const Pki instance = [] {
    using namespace sanstls::testing;
    CertificateAuthority ca = CertificateAuthority::create("sanstls test CA");
    Issued server = ca.issue({.common_name = "localhost",
                              .dns_names = {"localhost"},
                              .ip_addresses = {"127.0.0.1", "::1"}});
    Issued client = ca.issue({.common_name = "client", .client_auth = true});
    return Pki{std::move(ca), std::move(server), std::move(client)};
  }();
  return instance;
}

sanstls::Context server_context() {
  sanstls::Context ctx(sanstls::Protocol::tls_server);
  ctx.load_cert_chain_pem(pki().server.certificate_pem, pki().server.private_key_pem);
  return ctx;
}

sanstls::Context client_context() {
  sanstls::Context ctx(sanstls::Protocol::tls_client);
  ctx.load_verify_locations({.cadata = sanstls::CaData::pem(pki().ca.certificate_pem())});
  return ctx;
}

Pair make_pair(const sanstls::Context& client_ctx, const sanstls::Context& server_ctx,
               const std::string& server_hostname) {
  return Pair{client_ctx.wrap_bio({}, {}, false, server_hostname),
              server_ctx.wrap_bio({}, {}, true)};
}

std::string describe(const sanstls::Result& r) {
  std::string out(sanstls::status_name(r.status));
  if (r.error) {
    out += " ";
    out += sanstls::error_kind_name(r.error->kind);
    out += " reason=" + r.error->reason + " verify_code=" + std::to_string(static_cast<long>(r.error->verify_code)) +
           " message=" + r.error->message;
  }
  return out;
}

Handshake handshake(const sanstls::Context& client_ctx, const sanstls::Context& server_ctx,
                    std::optional<std::string> server_hostname) {
  Handshake h{client_ctx.wrap_bio({}, {}, false, std::move(server_hostname)),
              server_ctx.wrap_bio({}, {}, true), false, {}, {}};
  sanstls::testing::Pipe link(h.client, h.server);
  h.ok = link.handshake();
  h.client_result = link.last(sanstls::testing::Side::client);
  h.server_result = link.last(sanstls::testing::Side::server);
  return h;
}

Resumption resumption(const sanstls::Context& client_ctx, const sanstls::Context& server_ctx,
                      std::optional<std::string> server_hostname) {
  Handshake first = handshake(client_ctx, server_ctx, server_hostname);
  require_ok(first);
  // A TLS 1.3 server's tickets come after the handshake: a byte from the
  // server makes the client read them.
  sanstls::testing::Pipe link(first.client, first.server);
  REQUIRE(link.send(sanstls::testing::Side::server, "x").status == sanstls::Status::done);
  std::optional<sanstls::Session> session = first.client.session();
  REQUIRE(session);
  Handshake second{client_ctx.wrap_bio({}, {}, false, std::move(server_hostname), std::move(session)),
                   server_ctx.wrap_bio({}, {}, true), false, {}, {}};
  sanstls::testing::Pipe again(second.client, second.server);
  second.ok = again.handshake();
  second.client_result = again.last(sanstls::testing::Side::client);
  second.server_result = again.last(sanstls::testing::Side::server);
  return {std::move(first), std::move(second)};
}

void require_ok(const Handshake& h) {
  INFO("client: " << describe(h.client_result));
  INFO("server: " << describe(h.server_result));
  REQUIRE(h.ok);
}

void require_unknown_issuer(const Handshake& h) {
  INFO("client: " << describe(h.client_result));
  CHECK_FALSE(h.ok);
  REQUIRE(h.client_result.status == sanstls::Status::error);
  REQUIRE(h.client_result.error);
  const sanstls::Error& e = *h.client_result.error;
  CHECK(e.kind == sanstls::ErrorKind::cert_verification);
  CHECK(e.library == "SSL");
  CHECK(e.reason == "CERTIFICATE_VERIFY_FAILED");
  CHECK(e.verify_code == sanstls::VerifyCode::unable_to_get_issuer_cert_locally);
  CHECK(e.verify_message == "unable to get local issuer certificate");
  CHECK(e.message ==
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
        "issuer certificate");
}

sanstls::Context server_with(const sanstls::testing::Issued& issued, const std::string& chain_pem) {
  sanstls::Context ctx(sanstls::Protocol::tls_server);
  ctx.load_cert_chain_pem(issued.certificate_pem + chain_pem, issued.private_key_pem);
  return ctx;
}

sanstls::Context client_trusting(const std::string& ca_pem) {
  sanstls::Context ctx(sanstls::Protocol::tls_client);
  ctx.load_verify_locations({.cadata = sanstls::CaData::pem(ca_pem)});
  return ctx;
}

const OtherPki& other_pki() {
  static const OtherPki instance = [] {
    using sanstls::testing::CertificateAuthority;
    CertificateAuthority ca = CertificateAuthority::create("sanstls other CA");
    sanstls::testing::Issued server =
        ca.issue({.common_name = "localhost", .dns_names = {"localhost"}});
    return OtherPki{std::move(ca), std::move(server)};
  }();
  return instance;
}

TempDir::TempDir() {
  std::random_device seed;
  std::mt19937_64 rng((static_cast<std::uint64_t>(seed()) << 32) ^ seed());
  for (;;) {
    path_ = std::filesystem::temp_directory_path() / ("sanstls-test-" + std::to_string(rng()));
    if (std::filesystem::create_directory(path_)) break;
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, std::string_view contents) const {
  std::string file = path(name);
  std::ofstream out(file, std::ios::binary);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + file);
  return file;
}

std::string data_path(const std::string& name) {
  const char* dir = std::getenv("SANSTLS_TEST_DATA");
  return std::string(dir != nullptr ? dir : "test/data") + "/" + name;
}

std::string python_data(const std::string& name) { return data_path("python/" + name); }

CommandResult run_command(const std::string& command) {
  std::FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) throw std::system_error(errno, std::generic_category(), "popen");
  std::string out;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, p)) > 0) out.append(buffer, n);
  int status = ::pclose(p);
  return CommandResult{status, std::move(out)};
}

const std::string& python3() {
  static const std::string interpreter = [] {
    const char* env = std::getenv("PYTHON3");
    return std::string(env != nullptr && *env != '\0' ? env : "python3");
  }();
  return interpreter;
}

std::string shell_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::vector<std::string> python_lines(const std::string& script,
                                      const std::vector<std::string>& args,
                                      const std::string& env) {
  std::string command = env.empty() ? std::string() : env + " ";
  command += shell_quote(python3()) + " -c " + shell_quote(script);
  // Two appends rather than " " + shell_quote(a): GCC 12 at -O3 reports a
  // false -Wrestrict inside std::string's operator+ (GCC bug 105329).
  for (const std::string& a : args) {
    command += ' ';
    command += shell_quote(a);
  }
  CommandResult r = run_command(command);
  if (r.status != 0) {
    throw std::runtime_error("python failed (status " + std::to_string(r.status) + "): " + r.out);
  }
  std::vector<std::string> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string pattern(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

}  // namespace test
