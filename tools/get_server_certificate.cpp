// sanstls get-server-certificate HOST PORT [--cafile FILE]: prints the
// certificate a TLS server presents, as PEM, as Python's
// ssl.get_server_certificate((HOST, PORT), ca_certs=FILE).
#include <cerrno>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sanstls/net/socket.hpp>

#include "commands.hpp"

namespace {

using sanstls_tool::UsageError;

constexpr std::string_view usage_text =
    "usage: sanstls get-server-certificate HOST PORT [options]\n"
    "\n"
    "Connects to HOST:PORT, handshakes and prints the server's certificate as\n"
    "PEM, as Python's ssl.get_server_certificate(). Without --cafile nothing\n"
    "is verified; with it the chain must verify (the name is not checked).\n"
    "\n"
    "options:\n"
    "  --cafile FILE       verify the chain against the CA certificates in FILE\n"
    "  --timeout SECONDS   give up after SECONDS (default 30)\n";

struct Options {
  std::string host;
  std::uint16_t port = 0;
  std::optional<std::string> cafile;
  double timeout = 30;
};

Options parse(int argc, char** argv) {
  sanstls_tool::Arguments args(argc, argv);
  Options o;
  std::vector<std::string> operands;
  while (!args.done()) {
    std::string_view arg = args.next();
    if (arg == "--cafile") {
      o.cafile = args.value(arg);
    } else if (arg == "--timeout") {
      o.timeout = sanstls_tool::parse_seconds(args.value(arg));
    } else {
      operands.push_back(args.operand(arg));
    }
  }
  sanstls_tool::HostPort where = sanstls_tool::parse_host_port(operands);
  o.host = std::move(where.host);
  o.port = where.port;
  return o;
}

}  // namespace

int run_get_server_certificate(int argc, char** argv) {
  return sanstls_tool::command_main("get-server-certificate", usage_text, argc, argv, &parse,
                                     [&](const Options& o) -> int {
    try {
      std::string pem = sanstls::net::get_server_certificate(o.host, o.port, o.cafile, o.timeout);
      if (!pem.ends_with('\n')) pem += '\n';
      std::cout << pem << std::flush;
      if (!std::cout) {
        std::cerr << "sanstls get-server-certificate: cannot write the output\n";
        return 1;
      }
      return 0;
    } catch (const sanstls::net::TimeoutError& e) {
      std::cerr << "sanstls get-server-certificate: " << o.host << " port " << o.port << ": "
                << e.what() << '\n';
    } catch (const std::system_error& e) {
      // Connection failures: "Connection refused", or the resolver's message.
      std::string why = e.code().value() == EHOSTUNREACH ? e.what() : e.code().message();
      std::cerr << "sanstls get-server-certificate: cannot connect to " << o.host << " port "
                << o.port << ": " << why << '\n';
    } catch (const std::exception& e) {
      std::cerr << "sanstls get-server-certificate: " << e.what() << '\n';
    }
    return 1;
  });
}
