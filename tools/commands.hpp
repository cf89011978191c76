// The subcommands of the sanstls tool; each takes the arguments after its name.
#ifndef SANSTLS_TOOLS_COMMANDS_HPP
#define SANSTLS_TOOLS_COMMANDS_HPP

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

int run_demo(int argc, char** argv);
int run_decode_cert(int argc, char** argv);
int run_client(int argc, char** argv);
int run_server(int argc, char** argv);
int run_get_server_certificate(int argc, char** argv);
int run_ech_keygen(int argc, char** argv);

// Helpers the networking subcommands share for their arguments.
#include <sanstls/net/socket.hpp>  // FileDescriptor
#include <sanstls/object.hpp>

namespace sanstls_tool {

// UsageError is a bad command line: the command prints it with its usage
// text and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// command_main runs a subcommand the way every networking one behaves:
// -h or --help anywhere prints |usage| (exit 0); a UsageError from |parse|
// prints "sanstls NAME: why" and the usage (exit 2); otherwise it returns
// what |run| returns for the parsed options.
template <class Parse, class Run>
int command_main(std::string_view name, std::string_view usage, int argc, char** argv,
                 Parse parse, Run run) {
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      return 0;
    }
  }
  decltype(parse(argc, argv)) options;
  try {
    options = parse(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "sanstls " << name << ": " << e.what() << "\n\n" << usage;
    return 2;
  }
  return run(options);
}

// Arguments hands out a command's arguments one at a time.
class Arguments {
 public:
  Arguments(int argc, char** argv) : args_(argv, argv + argc) {}

  bool done() const noexcept { return next_ >= args_.size(); }
  std::string_view next() { return args_.at(next_++); }
  // value returns the argument that follows |option|.
  std::string value(std::string_view option) {
    if (done()) throw UsageError("option " + std::string(option) + " needs a value");
    return std::string(next());
  }
  // operand returns |arg|, which no option of the command matched: an
  // operand, unless it looks like an option, which is then unknown.
  std::string operand(std::string_view arg) const {
    if (arg.size() > 1 && arg.starts_with('-')) {
      throw UsageError("unknown option '" + std::string(arg) + "'");
    }
    return std::string(arg);
  }

 private:
  std::vector<std::string_view> args_;
  std::size_t next_ = 0;
};

// parse_port reads a TCP port number (0 only when |allow_zero|).
inline std::uint16_t parse_port(std::string_view text, bool allow_zero = false) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535 ||
      (value == 0 && !allow_zero)) {
    throw UsageError("'" + std::string(text) + "' is not a port number");
  }
  return static_cast<std::uint16_t>(value);
}

// HostPort is where a client command connects.
struct HostPort {
  std::string host;
  std::uint16_t port;
};

// parse_host_port reads the HOST and PORT operands of a client command.
inline HostPort parse_host_port(const std::vector<std::string>& operands) {
  if (operands.size() != 2) throw UsageError("expected HOST and PORT");
  if (operands[0].empty()) throw UsageError("empty HOST");
  return {operands[0], parse_port(operands[1])};
}

// parse_seconds reads a positive number of seconds, such as "2.5".
inline double parse_seconds(const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(value > 0) || value > 1e9) {
    throw UsageError("'" + text + "' is not a positive number of seconds");
  }
  return value;
}

// early_data_name names what became of 0-RTT data, for the JSON output and
// the log: "accepted", "rejected", "offered" (no answer yet), "not offered".
inline std::string_view early_data_name(sanstls::EarlyData::Status status) {
  switch (status) {
    case sanstls::EarlyData::Status::accepted: return "accepted";
    case sanstls::EarlyData::Status::rejected: return "rejected";
    case sanstls::EarlyData::Status::offered: return "offered";
    case sanstls::EarlyData::Status::not_offered: break;
  }
  return "not offered";
}

// split_list splits "h2,http/1.1" at the commas.
inline std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = text.find(',', start);
    items.emplace_back(text.substr(start, comma - start));
    if (items.back().empty()) throw UsageError("empty name in '" + std::string(text) + "'");
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

// write_file writes |data| to |path|, created with |mode| (0600: readable
// by its owner only, for secrets). Throws std::runtime_error naming the
// file and why.
inline void write_file(const std::string& path, std::string_view data, mode_t mode) {
  sanstls::net::FileDescriptor fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  while (!data.empty()) {
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// parse_compression reads --compress-cert's "brotli,zlib": certificate
// compression algorithms, preferred first.
inline std::vector<sanstls::CertificateCompression> parse_compression(std::string_view text) {
  std::vector<sanstls::CertificateCompression> algorithms;
  for (const std::string& name : split_list(text)) {
    sanstls::CertificateCompression algorithm;
    if (name == "zlib") {
      algorithm = sanstls::CertificateCompression::zlib;
    } else if (name == "brotli") {
      algorithm = sanstls::CertificateCompression::brotli;
    } else {
      throw UsageError("unknown certificate compression '" + name + "' (zlib, brotli)");
    }
    if (std::find(algorithms.begin(), algorithms.end(), algorithm) != algorithms.end()) {
      throw UsageError("'" + name + "' is given twice in --compress-cert");
    }
    algorithms.push_back(algorithm);
  }
  return algorithms;
}

// compression_name names the certificate compression a connection used,
// for the JSON output and the log: "zlib", "brotli" or "none".
inline std::string_view compression_name(std::optional<sanstls::CertificateCompression> used) {
  return used ? sanstls::certificate_compression_name(*used) : "none";
}

}  // namespace sanstls_tool

#endif  // SANSTLS_TOOLS_COMMANDS_HPP
