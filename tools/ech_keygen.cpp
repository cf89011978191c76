// sanstls ech-keygen --public-name NAME --key-out FILE --config-out FILE:
// makes an Encrypted Client Hello key for sanstls server --ech-key and the
// ECHConfigList clients need (sanstls client --ech-config-list, bssl-tool
// client -ech-config-list).
#include <charconv>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sanstls/ech.hpp>

#include "commands.hpp"

namespace {

using sanstls_tool::UsageError;

constexpr std::string_view usage_text =
    "usage: sanstls ech-keygen --public-name NAME --key-out FILE --config-out FILE [options]\n"
    "\n"
    "Makes an Encrypted Client Hello key (X25519, draft-ietf-tls-esni-13) and\n"
    "writes it with its ECHConfig to --key-out as PEM (a PKCS#8 PRIVATE KEY and\n"
    "an ECHCONFIG block, readable by its owner only): the file sanstls server\n"
    "--ech-key loads. The ECHConfigList clients need goes to --config-out, in\n"
    "the binary wire format that sanstls client --ech-config-list and\n"
    "bssl-tool client -ech-config-list read (and a DNS HTTPS record's \"ech\"\n"
    "parameter holds). NAME is the public name clients send in the clear; the\n"
    "server's certificate must be valid for it.\n"
    "\n"
    "options:\n"
    "  --config-id N        the config id, 0 to 255 (default 0): give each key a\n"
    "                       server holds its own\n"
    "  --max-name-length N  the longest server name behind this key, which\n"
    "                       clients pad to (default 0: their choice)\n";

struct Options {
  std::string public_name;
  std::string key_out;
  std::string config_out;
  std::uint8_t config_id = 0;
  std::size_t max_name_length = 0;
};

unsigned long parse_number(std::string_view option, const std::string& text, unsigned long max) {
  unsigned long n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n > max) {
    throw UsageError("'" + text + "' is not a number from 0 to " + std::to_string(max) + " for " +
                     std::string(option));
  }
  return n;
}

Options parse(int argc, char** argv) {
  sanstls_tool::Arguments args(argc, argv);
  Options o;
  std::optional<std::string> name, key_out, config_out;
  while (!args.done()) {
    std::string_view arg = args.next();
    if (arg == "--public-name") {
      name = args.value(arg);
    } else if (arg == "--key-out") {
      key_out = args.value(arg);
    } else if (arg == "--config-out") {
      config_out = args.value(arg);
    } else if (arg == "--config-id") {
      o.config_id = static_cast<std::uint8_t>(parse_number(arg, args.value(arg), 255));
    } else if (arg == "--max-name-length") {
      o.max_name_length = parse_number(arg, args.value(arg), 255);
    } else {
      throw UsageError("unexpected argument '" + args.operand(arg) + "'");
    }
  }
  if (!name || !key_out || !config_out) throw UsageError("--public-name, --key-out and --config-out are needed");
  o.public_name = *name;
  o.key_out = *key_out;
  o.config_out = *config_out;
  return o;
}

}  // namespace

int run_ech_keygen(int argc, char** argv) {
  return sanstls_tool::command_main("ech-keygen", usage_text, argc, argv, &parse, [&](const Options& o) -> int {
    try {
      const sanstls::EchKeys keys = sanstls::EchKeys::generate(o.public_name, o.config_id, o.max_name_length);
      sanstls_tool::write_file(o.key_out, keys.to_pem(), 0600);
      sanstls_tool::write_file(o.config_out, keys.config_list(), 0644);
      return 0;
    } catch (const std::exception& e) {
      std::cerr << "sanstls ech-keygen: " << e.what() << '\n';
    }
    return 1;
  });
}
