// sanstls demo: a client and a server Object in one process, talking through
// MemoryBIOs the demo moves bytes between by hand, so every flight can be
// shown. No network, no files: the certificates are made on the fly.
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>

#include "commands.hpp"

namespace {

std::string_view content_type_name(unsigned type) {
  switch (type) {
    case 20: return "change_cipher_spec";
    case 21: return "alert";
    case 22: return "handshake";
    case 23: return "application_data";
    default: return "unknown";
  }
}

std::string_view handshake_type_name(unsigned type) {
  switch (type) {
    case 1: return "ClientHello";
    case 2: return "ServerHello";
    case 4: return "NewSessionTicket";
    case 8: return "EncryptedExtensions";
    case 11: return "Certificate";
    case 12: return "ServerKeyExchange";
    case 13: return "CertificateRequest";
    case 14: return "ServerHelloDone";
    case 15: return "CertificateVerify";
    case 16: return "ClientKeyExchange";
    case 20: return "Finished";
    default: return "?";
  }
}

// describe_records lists the TLS records in |flight|: their content types,
// and for plaintext handshake records the first message's type.
std::string describe_records(std::string_view flight) {
  std::string out;
  std::size_t pos = 0;
  while (pos + 5 <= flight.size()) {
    auto type = static_cast<unsigned char>(flight[pos]);
    std::size_t len = (static_cast<unsigned char>(flight[pos + 3]) << 8) |
                      static_cast<unsigned char>(flight[pos + 4]);
    if (!out.empty()) out += ", ";
    out += content_type_name(type);
    if (type == 22 && len > 0 && pos + 5 < flight.size()) {
      out += '(';
      out += handshake_type_name(static_cast<unsigned char>(flight[pos + 5]));
      out += ')';
    }
    out += '[' + std::to_string(len) + ']';
    pos += 5 + len;
  }
  if (pos != flight.size()) out += " +" + std::to_string(flight.size() - pos) + " partial bytes";
  return out;
}

// Flight moves everything |from| wrote to |to| and prints it.
void flight(std::string_view label, sanstls::MemoryBIO& from, sanstls::MemoryBIO& to) {
  if (from.pending() == 0) return;
  std::string bytes = from.read();
  std::cout << "  " << label << "  " << bytes.size() << " bytes: " << describe_records(bytes)
            << "\n";
  to.write(bytes);
}

// subject_line prints a distinguished name as "commonName=x, ...".
std::string subject_line(const sanstls::DistinguishedName& name) {
  std::string out;
  for (const auto& rdn : name) {
    for (const auto& [key, value] : rdn) {
      if (!out.empty()) out += ", ";
      out += key + "=" + value;
    }
  }
  return out;
}

void check(const sanstls::Result& r, std::string_view what) {
  if (r.status == sanstls::Status::error) {
    throw std::runtime_error(std::string(what) + ": " + r.error->message);
  }
}

}  // namespace

int run_demo(int argc, char**) {
  if (argc != 0) {
    std::cerr << "usage: sanstls demo\n";
    return 2;
  }
  try {
    using namespace sanstls;
    std::cout << "sanstls " << version() << " on " << openssl_version() << " (BoringSSL API "
              << boringssl_api_version() << ")\n\n";

    testing::CertificateAuthority ca = testing::CertificateAuthority::create("sanstls demo CA");
    testing::Issued cert = ca.issue({.common_name = "demo.sanstls.test",
                                     .dns_names = {"demo.sanstls.test"}});
    std::cout << "made a CA and a certificate for demo.sanstls.test (ECDSA P-256)\n\n";

    Context server_ctx(Protocol::tls_server);
    server_ctx.load_cert_chain_pem(cert.certificate_pem, cert.private_key_pem);
    server_ctx.set_alpn_protocols({"echo/1", "http/1.1"});

    Context client_ctx(Protocol::tls_client);  // verifies chain and hostname
    client_ctx.load_verify_locations({.cadata = CaData::pem(ca.certificate_pem())});
    client_ctx.set_alpn_protocols({"echo/1"});

    MemoryBIO c_in, c_out, s_in, s_out;
    Object client = client_ctx.wrap_bio(c_in, c_out, false, "demo.sanstls.test");
    Object server = server_ctx.wrap_bio(s_in, s_out, true);

    std::cout << "handshake:\n";
    for (int round = 0; round < 10; ++round) {
      Result c = client.do_handshake();
      check(c, "client handshake");
      flight("client -> server", c_out, s_in);
      Result s = server.do_handshake();
      check(s, "server handshake");
      flight("server -> client", s_out, c_in);
      if (c.ok() && s.ok()) break;
    }
    if (!client.is_handshake_complete() || !server.is_handshake_complete()) {
      throw std::runtime_error("the handshake did not complete");
    }

    std::optional<Cipher> cipher = client.cipher();
    std::cout << "\nversion:  " << client.version().value_or("?") << "\n"
              << "cipher:   " << cipher->name << " (" << cipher->protocol << ", "
              << cipher->secret_bits << " bits)\n"
              << "alpn:     " << client.selected_alpn_protocol().value_or("(none)") << "\n"
              << "peer:     " << subject_line(client.getpeercert()->subject) << "\n"
              << "issuer:   " << subject_line(client.getpeercert()->issuer) << "\n"
              << "verified: chain to the demo CA, hostname demo.sanstls.test\n";

    std::cout << "\necho:\n";
    const std::string message = "hello from the sanstls demo";
    check(client.write(message), "client write");
    flight("client -> server", c_out, s_in);
    ReadResult got = server.read(4096);
    check(got, "server read");
    std::cout << "  server read " << got.bytes << " bytes: \"" << got.data << "\"\n";
    check(server.write(got.data), "server write");
    flight("server -> client", s_out, c_in);
    ReadResult echoed = client.read(4096);
    check(echoed, "client read");
    std::cout << "  client read " << echoed.bytes << " bytes: \"" << echoed.data << "\"\n";

    std::cout << "\nshutdown:\n";
    Result cu = client.unwrap();
    check(cu, "client unwrap");
    flight("client -> server", c_out, s_in);
    ReadResult closed = server.read(4096);
    check(closed, "server read");
    Result su = server.unwrap();
    check(su, "server unwrap");
    flight("server -> client", s_out, c_in);
    Result cu2 = client.unwrap();
    check(cu2, "client unwrap");
    std::cout << "  server saw " << status_name(closed.status) << ", client unwrap "
              << status_name(cu2.status) << "\n";

    if (echoed.data != message || closed.status != Status::closed || !cu2.ok()) {
      std::cerr << "demo: unexpected result\n";
      return 1;
    }
    std::cout << "\nok\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "demo failed: " << e.what() << "\n";
    return 1;
  }
}
