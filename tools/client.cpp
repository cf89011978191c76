// sanstls client HOST PORT: a TLS client for trying out servers. It connects,
// handshakes, prints what was negotiated as one JSON line, sends --send TEXT
// (or standard input), copies what comes back to standard output until the
// server closes or --timeout seconds pass without data, and closes cleanly.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sanstls/context.hpp>
#include <openssl/base64.h>

#include <sanstls/error.hpp>
#include <sanstls/net/socket.hpp>
#include <sanstls/session.hpp>

#include "commands.hpp"

namespace {

using sanstls_tool::UsageError;

constexpr std::string_view usage_text =
    "usage: sanstls client HOST PORT [options]\n"
    "\n"
    "Connects to HOST:PORT over TLS and prints, as the first line of standard\n"
    "output, one JSON object: version, cipher, alpn, session_reused,\n"
    "early_data (\"accepted\", \"rejected\" or \"not offered\"),\n"
    "ocsp_response (the stapled OCSP response in base64, or null) and\n"
    "sct_count (how many SCTs the server sent; both need --status),\n"
    "certificate_compression (\"zlib\", \"brotli\" or \"none\"; see --compress-cert),\n"
    "ech (\"accepted\", \"rejected\", \"grease\" or \"not offered\") and ech_retried,\n"
    "peer_certificate (as Python's getpeercert(); {} when not verified) and\n"
    "verify (\"ok\", \"skipped\" with --no-verify, or why verification failed).\n"
    "Then sends --send TEXT, or standard input until its end, and writes what\n"
    "the server sends back to standard output. Once all of it is sent, it\n"
    "sends its close_notify and reads on until the server's close_notify, the\n"
    "end of the connection, or --timeout seconds without data. Exits 1 with a\n"
    "message on standard error when it fails.\n"
    "\n"
    "options:\n"
    "  --cafile FILE       trust the CA certificates in FILE (PEM)\n"
    "  --capath DIR        trust the CA certificates in DIR (OpenSSL's hashed layout)\n"
    "  --no-verify         do not verify the server's certificate or name\n"
    "                      (default: verify, with the system's CAs unless\n"
    "                      --cafile or --capath is given)\n"
    "  --servername NAME   the name to send (SNI) and verify; default HOST\n"
    "  --alpn P1,P2        offer these ALPN protocols\n"
    "  --cert FILE         a client certificate (PEM; may hold the key too)\n"
    "  --key FILE          its private key\n"
    "  --min-version V     the lowest version to accept: 1.0 to 1.3 (also\n"
    "  --max-version V     written TLSv1.2 or tls1.2); and the highest\n"
    "  --session-in FILE   offer the session saved in FILE to resume it\n"
    "  --session-out FILE  save the session to FILE (secret: mode 0600) as soon\n"
    "                      as it can be resumed; over TLS 1.3 the client waits\n"
    "                      for a ticket before it closes (or for --timeout)\n"
    "  --status            ask the server for a stapled OCSP response and for\n"
    "                      certificate transparency SCTs (reported, not checked)\n"
    "  --compress-cert ALGS  offer to receive the server's certificate\n"
    "                      compressed (RFC 8879, TLS 1.3) with ALGS: zlib,brotli\n"
    "  --ech-config-list FILE  offer Encrypted Client Hello with the ECHConfigList\n"
    "                      in FILE (binary, as sanstls ech-keygen --config-out and\n"
    "                      bssl-tool generate-ech write it); when the server\n"
    "                      rejects it, connect once more with the configs it\n"
    "                      sends, or without ECH if it sends none\n"
    "  --ech-grease        send a GREASE ECH extension (without --ech-config-list)\n"
    "  --send TEXT         send TEXT instead of standard input\n"
    "  --early-data TEXT   send TEXT first, as TLS 1.3 early data (0-RTT) when\n"
    "                      the --session-in session allows it; sent again\n"
    "                      after the handshake if the server rejects it\n"
    "  --timeout SECONDS   give up connecting, handshaking or closing after\n"
    "                      SECONDS; once all the input is sent, stop reading\n"
    "                      when SECONDS pass without data (default: wait for\n"
    "                      the server to close)\n";

struct Options {
  std::string host;
  std::uint16_t port = 0;
  std::optional<std::string> cafile;
  std::optional<std::string> capath;
  bool verify = true;
  std::optional<std::string> servername;
  std::vector<std::string> alpn;
  std::optional<std::string> cert;
  std::optional<std::string> key;
  std::optional<sanstls::TLSVersion> min_version;
  std::optional<sanstls::TLSVersion> max_version;
  std::optional<std::string> session_in;
  std::optional<std::string> session_out;
  std::optional<std::string> send;
  std::optional<std::string> early_data;
  std::optional<double> timeout;
  bool status = false;
  std::vector<sanstls::CertificateCompression> compress_cert;
  std::optional<std::string> ech_config_list;  // a file name
  bool ech_grease = false;
};

// Failure is what the command reports on stderr before exiting with status 1.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// parse_version reads a version as Python names it (TLSv1.2), as OpenSSL's
// and bssl-tool's options do (tls1.2, tls1_2) or as a bare number (1.2).
sanstls::TLSVersion parse_version(const std::string& text) {
  std::string number = text;
  for (const char* prefix : {"TLSv", "tlsv", "TLS", "tls"}) {
    if (number.rfind(prefix, 0) == 0) {
      number.erase(0, std::string_view(prefix).size());
      break;
    }
  }
  std::replace(number.begin(), number.end(), '_', '.');
  if (number == "1" || number == "1.0") return sanstls::TLSVersion::tlsv1;
  if (number == "1.1") return sanstls::TLSVersion::tlsv1_1;
  if (number == "1.2") return sanstls::TLSVersion::tlsv1_2;
  if (number == "1.3") return sanstls::TLSVersion::tlsv1_3;
  throw UsageError("unknown TLS version '" + text + "' (1.2, TLSv1.2 or tls1.2; 1.0 to 1.3)");
}

Options parse(int argc, char** argv) {
  sanstls_tool::Arguments args(argc, argv);
  Options o;
  std::vector<std::string> operands;
  while (!args.done()) {
    std::string_view arg = args.next();
    if (arg == "--cafile") {
      o.cafile = args.value(arg);
    } else if (arg == "--capath") {
      o.capath = args.value(arg);
    } else if (arg == "--no-verify") {
      o.verify = false;
    } else if (arg == "--servername") {
      o.servername = args.value(arg);
    } else if (arg == "--alpn") {
      o.alpn = sanstls_tool::split_list(args.value(arg));
    } else if (arg == "--cert") {
      o.cert = args.value(arg);
    } else if (arg == "--key") {
      o.key = args.value(arg);
    } else if (arg == "--min-version") {
      o.min_version = parse_version(args.value(arg));
    } else if (arg == "--max-version") {
      o.max_version = parse_version(args.value(arg));
    } else if (arg == "--session-in") {
      o.session_in = args.value(arg);
    } else if (arg == "--session-out") {
      o.session_out = args.value(arg);
    } else if (arg == "--status") {
      o.status = true;
    } else if (arg == "--compress-cert") {
      o.compress_cert = sanstls_tool::parse_compression(args.value(arg));
    } else if (arg == "--ech-config-list") {
      o.ech_config_list = args.value(arg);
    } else if (arg == "--ech-grease") {
      o.ech_grease = true;
    } else if (arg == "--send") {
      o.send = args.value(arg);
    } else if (arg == "--early-data") {
      o.early_data = args.value(arg);
    } else if (arg == "--timeout") {
      o.timeout = sanstls_tool::parse_seconds(args.value(arg));
    } else {
      operands.push_back(args.operand(arg));
    }
  }
  sanstls_tool::HostPort where = sanstls_tool::parse_host_port(operands);
  o.host = std::move(where.host);
  o.port = where.port;
  if (o.key && !o.cert) throw UsageError("--key needs --cert");
  return o;
}

// json_string quotes |text| as a JSON string.
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(c));
          out += hex;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string json_or_null(const std::optional<std::string>& text) {
  return text ? json_string(*text) : "null";
}

// Summary is the JSON line printed after the handshake.
struct Summary {
  std::optional<std::string> version;
  std::optional<std::string> cipher;
  std::optional<std::string> alpn;
  bool session_reused = false;
  std::string early_data = "not offered";
  std::optional<std::string> ocsp_response_base64;
  std::size_t sct_count = 0;
  std::string certificate_compression = "none";
  std::string ech = "not offered";
  bool ech_retried = false;
  std::optional<std::string> peer_certificate_json;
  std::string verify;

  std::string to_json() const {
    return "{\"version\": " + json_or_null(version) + ", \"cipher\": " + json_or_null(cipher) +
           ", \"alpn\": " + json_or_null(alpn) +
           ", \"session_reused\": " + (session_reused ? "true" : "false") +
           ", \"early_data\": " + json_string(early_data) +
           ", \"ocsp_response\": " + json_or_null(ocsp_response_base64) +
           ", \"sct_count\": " + std::to_string(sct_count) +
           ", \"certificate_compression\": " + json_string(certificate_compression) +
           ", \"ech\": " + json_string(ech) + ", \"ech_retried\": " + (ech_retried ? "true" : "false") +
           ", \"peer_certificate\": " + peer_certificate_json.value_or("null") +
           ", \"verify\": " + json_string(verify) + "}";
  }
};

std::string base64(std::string_view bytes) {
  std::size_t size = 0;
  if (!EVP_EncodedLength(&size, bytes.size())) throw Failure("an OCSP response too large to encode");
  std::string out(size, '\0');
  const std::size_t written = EVP_EncodeBlock(reinterpret_cast<std::uint8_t*>(out.data()),
                                              reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  out.resize(written);
  return out;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Failure("cannot read " + path + ": " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_stdout(std::string_view data) {
  std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
  std::cout.flush();
  if (!std::cout) throw Failure("cannot write to standard output");
}

sanstls::Context make_context(const Options& o) {
  // Python's create_default_context(): the system's CAs unless --cafile or
  // --capath, and SSLKEYLOGFILE honoured.
  sanstls::Context context = sanstls::create_default_context(
      sanstls::Purpose::server_auth, {.cafile = o.cafile, .capath = o.capath});
  if (!o.verify) {
    context.set_check_hostname(false);
    context.set_verify_mode(sanstls::VerifyMode::cert_none);
  }
  if (o.min_version) context.set_minimum_version(*o.min_version);
  if (o.max_version) context.set_maximum_version(*o.max_version);
  if (!o.alpn.empty()) context.set_alpn_protocols(o.alpn);
  context.set_ocsp_stapling_requested(o.status);
  context.set_signed_certificate_timestamps_requested(o.status);
  context.set_certificate_compression(o.compress_cert);
  if (o.ech_config_list) {
    const std::string list = read_whole_file(*o.ech_config_list);
    try {
      context.set_ech_config_list(sanstls::as_bytes(list));
    } catch (const std::invalid_argument& e) {
      throw Failure(*o.ech_config_list + ": " + e.what());
    }
  }
  context.set_ech_grease(o.ech_grease);
  if (o.cert) context.load_cert_chain(*o.cert, o.key.value_or(""));
  if (o.early_data) context.set_early_data_enabled(true);
  return context;
}

// How the exchange of application data ended.
enum class Ending { close_notify, eof, idle };

// exchange sends the input and copies the server's data to stdout, driving
// the non-blocking socket with poll(), so that a server echoing a large
// input never waits on a client that is still sending. Once the input is
// all sent, our close_notify tells the server so (an echo server answers
// with the rest of its data and its own close_notify). |on_read| runs after
// every read and says whether closing may start: BoringSSL ignores TLS 1.3
// tickets that come after our close_notify, so a session to save holds it
// back until a ticket has come.
Ending exchange(sanstls::net::Socket& tls, const Options& o, const std::function<bool()>& on_read) {
  tls.setblocking(false);
  bool closing = false;
  bool may_close = on_read();
  std::string to_send = o.send.value_or("");
  std::size_t sent = 0;
  bool input_done = o.send.has_value();
  std::array<std::byte, 16384> buffer{};
  constexpr std::size_t kMaxQueued = 64 * 1024;
  for (;;) {
    while (sent < to_send.size()) {
      sanstls::Result w = tls.try_send(sanstls::as_bytes(std::string_view(to_send).substr(sent)));
      if (w.status == sanstls::Status::error) w.throw_if_error();
      if (w.status != sanstls::Status::done) break;
      sent += w.bytes;
    }
    if (sent == to_send.size()) {
      to_send.clear();
      sent = 0;
    }
    if (input_done && to_send.empty() && !closing && may_close) {
      closing = true;
      sanstls::Result u = tls.try_unwrap();
      // Data still coming (APPLICATION_DATA_ON_SHUTDOWN) is no failure: our
      // close_notify is out, and the reads below take the data.
      if (u.status == sanstls::Status::error && tls.object().error()) u.throw_if_error();
      if (u.status == sanstls::Status::done) return Ending::close_notify;  // the server's came first
    }
    if (tls.wants_write()) (void)tls.flush();
    for (;;) {
      sanstls::Result r = tls.try_recv_into(buffer);
      may_close = on_read();
      if (r.status == sanstls::Status::done) {
        write_stdout(sanstls::as_string_view(std::span(buffer).first(r.bytes)));
        continue;
      }
      if (r.status == sanstls::Status::closed) return Ending::close_notify;
      if (r.status == sanstls::Status::error) {
        if (r.error->kind == sanstls::ErrorKind::eof) return Ending::eof;
        r.throw_if_error();
      }
      break;  // want_read or want_write
    }
    if (input_done && to_send.empty() && !closing && may_close) continue;  // close first
    std::array<pollfd, 2> fds{};
    nfds_t count = 1;
    fds[0] = {tls.fileno(), static_cast<short>(tls.wants_write() ? POLLOUT : POLLIN), 0};
    if (!input_done && to_send.size() < kMaxQueued) {
      fds[1] = {STDIN_FILENO, POLLIN, 0};
      count = 2;
    }
    // The timeout counts once everything is sent: before that, the wait is
    // for standard input or for the server to take more.
    int wait_ms = -1;
    if (o.timeout && input_done && to_send.empty() && !tls.wants_write()) {
      wait_ms = static_cast<int>(std::min(*o.timeout * 1000, 2e9));
    }
    int n = ::poll(fds.data(), count, wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "poll");
    }
    if (n == 0) return Ending::idle;
    if (count == 2 && fds[1].revents != 0) {
      char chunk[16384];
      ssize_t got = ::read(STDIN_FILENO, chunk, sizeof chunk);
      if (got > 0) {
        to_send.append(chunk, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        if (got < 0) std::cerr << "sanstls client: standard input: " << std::strerror(errno) << '\n';
        input_done = true;
      }
    }
  }
}

void warn(std::string_view what) { std::cerr << "sanstls client: warning: " << what << '\n'; }

int client(const Options& o) {
  sanstls::Context context = make_context(o);
  std::optional<sanstls::Session> session;
  if (o.session_in) {
    std::string bytes = read_whole_file(*o.session_in);
    try {
      session = sanstls::Session::from_bytes(context, sanstls::as_bytes(bytes));
    } catch (const std::exception& e) {
      throw Failure("cannot use the session in " + *o.session_in + ": " + e.what());
    }
  }

  // A server that rejects ECH sends the configurations to try again with
  // (none: it turned ECH off); like a browser, the client tries once more.
  bool ech_retried = false;
  bool resend = false;
  std::optional<sanstls::net::Socket> connection;
  for (;;) {
    sanstls::net::FileDescriptor fd;
    try {
      fd = sanstls::net::create_connection(o.host, o.port, o.timeout);
    } catch (const sanstls::net::TimeoutError&) {
      throw Failure("cannot connect to " + o.host + " port " + std::to_string(o.port) + ": timed out");
    } catch (const std::system_error& e) {
      std::string why = e.code().value() == EHOSTUNREACH ? e.what() : e.code().message();
      throw Failure("cannot connect to " + o.host + " port " + std::to_string(o.port) + ": " + why);
    }
    connection.emplace(sanstls::net::wrap_socket(
        context, std::move(fd),
        {.do_handshake_on_connect = false,
         .suppress_ragged_eofs = false,
         .server_hostname = o.servername.value_or(o.host),
         .session = session}));
    sanstls::net::Socket& tls = *connection;
    tls.settimeout(o.timeout);
    resend = false;
    try {
      if (o.early_data) {
        // Before the handshake: the data goes with the ClientHello when the
        // session allows 0-RTT, and after the handshake otherwise.
        try {
          tls.sendall(*o.early_data);
        } catch (const sanstls::SSLEarlyDataRejectedError&) {
          resend = true;
        }
      }
      try {
        tls.do_handshake();
      } catch (const sanstls::SSLEarlyDataRejectedError&) {
        resend = true;
        tls.do_handshake();  // the handshake goes on without it
      }
    } catch (const sanstls::SSLCertVerificationError& e) {
      Summary failed;
      failed.verify = e.what();
      write_stdout(failed.to_json() + "\n");
      throw;
    } catch (const sanstls::net::TimeoutError& e) {
      throw Failure(std::string("handshake: ") + e.what());
    } catch (const sanstls::SSLError& e) {
      if (e.reason() != "ECH_REJECTED" || ech_retried || !e.error().ech_retry_configs) throw;
      const std::string& retry = *e.error().ech_retry_configs;
      warn(retry.empty() ? "the server rejected ECH and sent no retry configs: trying again without ECH"
                         : "the server rejected ECH: trying again with the configs it sent");
      context.set_ech_config_list(retry.empty() ? std::nullopt
                                                : std::optional(sanstls::as_bytes(std::string_view(retry))));
      ech_retried = true;
      continue;
    }
    break;
  }
  sanstls::net::Socket& tls = *connection;

  Summary summary;
  summary.version = tls.version();
  if (std::optional<sanstls::Cipher> cipher = tls.cipher()) summary.cipher = cipher->name;
  summary.alpn = tls.selected_alpn_protocol();
  summary.session_reused = tls.session_reused();
  summary.early_data = sanstls_tool::early_data_name(tls.object().early_data().status);
  if (std::optional<std::string> staple = tls.object().ocsp_response()) summary.ocsp_response_base64 = base64(*staple);
  summary.sct_count = tls.object().signed_certificate_timestamps().size();
  summary.certificate_compression = sanstls_tool::compression_name(tls.object().certificate_compression());
  summary.ech = tls.object().ech_accepted() ? "accepted"
                : ech_retried || o.ech_config_list ? "rejected"
                : o.ech_grease                      ? "grease"
                                                    : "not offered";
  summary.ech_retried = ech_retried;
  if (resend) tls.sendall(*o.early_data);
  if (std::optional<sanstls::Certificate> peer = tls.getpeercert()) {
    summary.peer_certificate_json = peer->to_json();
  }
  summary.verify = o.verify ? "ok" : "skipped";
  write_stdout(summary.to_json() + "\n");

  // The session is saved as soon as it can be resumed: a TLS 1.3 server's
  // tickets come after the handshake, with its first data.
  bool saved = false;
  auto save_session = [&](bool last_chance) {
    if (!o.session_out || saved) return true;
    std::optional<sanstls::Session> s = tls.session();
    if (!s) throw Failure("no session to save");
    if (!s->is_resumable() && !last_chance) return false;
    if (!s->is_resumable()) warn("the session is not resumable (the server sent no ticket)");
    sanstls_tool::write_file(*o.session_out, s->to_bytes(), 0600);  // a secret
    saved = true;
    return true;
  };
  Ending ending = exchange(tls, o, [&] { return save_session(false); });
  save_session(true);

  if (ending == Ending::eof) {
    warn("the server closed the connection without a close_notify");
    return 0;
  }
  tls.settimeout(o.timeout);
  try {
    (void)tls.unwrap();  // ours is out already; this waits for the flush
  } catch (const std::exception& e) {
    // Once the server's close_notify came, ours only tells it we are done;
    // a server that has gone away by then is not a failure.
    if (ending != Ending::close_notify) warn(std::string("unwrap: ") + e.what());
  }
  return 0;
}

}  // namespace

int run_client(int argc, char** argv) {
  return sanstls_tool::command_main("client", usage_text, argc, argv, &parse,
                                     [&](const Options& options) -> int {
    try {
      return client(options);
    } catch (const std::exception& e) {
      std::cerr << "sanstls client: " << e.what() << '\n';
    }
    return 1;
  });
}
