// sanstls: the command-line tool. Each subcommand lives in its own file.
#include <cstring>
#include <iostream>
#include <string_view>

#include "commands.hpp"

namespace {

int usage(std::ostream& out) {
  out << "usage: sanstls COMMAND [ARGS]\n"
         "\n"
         "commands:\n"
         "  demo               an in-memory TLS handshake and echo between a client\n"
         "                     and a server, with a certificate made on the fly\n"
         "  decode-cert FILE   print the first PEM certificate in FILE as JSON, as\n"
         "                     Python's ssl._ssl._test_decode_cert(FILE) decodes it\n"
         "  client HOST PORT   connect over TLS, print what was negotiated as JSON,\n"
         "                     send --send TEXT or standard input, print the reply\n"
         "  server --cert F --key F\n"
         "                     a TLS echo (or --http) server on 127.0.0.1 serving\n"
         "                     many clients at once from one epoll loop\n"
         "  get-server-certificate HOST PORT\n"
         "                     print the server's certificate as PEM\n"
         "  ech-keygen --public-name NAME --key-out FILE --config-out FILE\n"
         "                     make an Encrypted Client Hello key and its ECHConfigList\n"
         "\n"
         "'sanstls client --help' (server, get-server-certificate, ech-keygen) lists the options.\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(std::cerr);
  std::string_view command = argv[1];
  if (command == "demo") return run_demo(argc - 2, argv + 2);
  if (command == "decode-cert") return run_decode_cert(argc - 2, argv + 2);
  if (command == "client") return run_client(argc - 2, argv + 2);
  if (command == "server") return run_server(argc - 2, argv + 2);
  if (command == "get-server-certificate") return run_get_server_certificate(argc - 2, argv + 2);
  if (command == "ech-keygen") return run_ech_keygen(argc - 2, argv + 2);
  if (command == "-h" || command == "--help" || command == "help") {
    usage(std::cout);
    return 0;
  }
  std::cerr << "sanstls: unknown command '" << command << "'\n";
  return usage(std::cerr);
}
