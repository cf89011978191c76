// sanstls-load: load tools for sanstls servers (see bench/README.md).
//   sanstls-load conns [options]   many concurrent connections to a server
//   sanstls-load soak [options]    a long run of in-memory handshakes
#include <iostream>
#include <string_view>

#include "load.hpp"

int main(int argc, char** argv) {
  const std::string_view usage =
      "usage: sanstls-load conns|soak [options]   (sanstls-load conns --help)\n";
  if (argc < 2) {
    std::cerr << usage;
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "conns") return sanstls_load::run_conns(argc - 2, argv + 2);
  if (command == "soak") return sanstls_load::run_soak(argc - 2, argv + 2);
  if (command == "--help" || command == "-h") {
    std::cout << usage;
    return 0;
  }
  std::cerr << "sanstls-load: unknown command '" << command << "'\n" << usage;
  return 2;
}
