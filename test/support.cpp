#include "support.hpp"

#include <cstdlib>
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

std::string data_path(const std::string& name) {
  const char* dir = std::getenv("SANSTLS_TEST_DATA");
  return std::string(dir != nullptr ? dir : "test/data") + "/" + name;
}

std::string pattern(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

}  // namespace test
