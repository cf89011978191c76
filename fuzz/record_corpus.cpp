// fuzz/record_corpus.cpp: writes the fuzz targets' seed corpora from real
// in-memory handshakes, and (once) the fixed test certificates they use.
//
//   record_corpus --new-certs fuzz/certs/test_keys.hpp
//       makes a new test CA, server and client certificate (10 years) and
//       writes them as a C++ header; rebuild, then record again.
//   record_corpus fuzz/corpus
//       records TLS 1.2 and 1.3 handshakes, with and without ALPN, client
//       certificates, SNI callbacks and resumption, and writes:
//         client_handshake/*   what the server sent (the client target's input)
//         server_handshake/*   what the client sent (the server target's input)
//         session_records/*    programs for session_records, some with recorded records
//         memory_bio/*, certificate_decode/*   small hand-made seeds
//
// The handshakes use the targets' own contexts (fuzz_support.hpp), so a
// recorded flight matches what a target sends and expects, up to the
// random values of each run: without BoringSSL's fuzzer mode a target gets
// through the plaintext messages (and certificate verification in TLS 1.2),
// not past the first message that depends on its own randomness.
// Linked against BoringSSL in fuzzer mode (the build-fuzz-deep tree of
// `fuzz/run --deep`), both sides use NULL ciphers and skip the checks that
// depend on randomness, so every recorded flight replays to the end of the
// handshake and beyond; it then records only those transcripts, as deep-*
// beside the ordinary seeds.
// Not a test: run it by hand when the targets' input formats change.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sanstls/certificate.hpp>
#include <sanstls/helpers.hpp>
#include <sanstls/session.hpp>
#include <sanstls/testing/certificates.hpp>

#include "fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;
using sanstls_fuzz::actions::eof_at_end;
using sanstls_fuzz::actions::unwrap_at_end;
using sanstls_fuzz::actions::via_read;

std::size_t written = 0;

void write_file(const fs::path& file, std::string_view bytes) {
  const fs::path path =
      sanstls_fuzz::deep_mode ? file.parent_path() / ("deep-" + file.filename().string()) : file;
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
  ++written;
}

// Transcript is everything each side sent on one connection.
struct Transcript {
  std::string client_bytes;        // client → server, all of it
  std::string server_bytes;        // server → client, all of it
  std::string server_after;        // server → client after both handshakes completed
  std::optional<sanstls::Session> session;  // the client's, after it read the tickets
  bool completed = false;
  bool reused = false;
};

// capture moves |from| to |to| and appends the bytes to |log|.
void capture(sanstls::MemoryBIO& from, sanstls::MemoryBIO& to, std::string& log) {
  std::string bytes = from.read();
  log += bytes;
  if (!to.eof_written()) to.write(bytes);
}

Transcript record_connection(const sanstls::Context& client_ctx, const sanstls::Context& server_ctx,
                             const std::string& hostname, const std::optional<sanstls::Session>& session,
                             bool early) {
  sanstls::MemoryBIO ci, co, si, so;
  sanstls::Object client = client_ctx.wrap_bio(ci, co, false, hostname, session);
  // The client's first flight comes before the server exists, as in the
  // target, where nothing else draws random numbers before it. With
  // |early|, it carries the target's own first write (via_write) as 0-RTT
  // data.
  if (early) (void)client.write(std::string_view("x"));
  sanstls::Result c = client.do_handshake();
  Transcript t;
  capture(co, si, t.client_bytes);
  sanstls::Object server = server_ctx.wrap_bio(si, so, true);
  for (int round = 0; round < 16; ++round) {
    if (round > 0) {
      c = client.do_handshake();
      capture(co, si, t.client_bytes);
    }
    sanstls::Result s = server.do_handshake();
    capture(so, ci, t.server_bytes);
    if (client.is_handshake_complete() && server.is_handshake_complete()) break;
    if (c.status == sanstls::Status::error && s.status == sanstls::Status::error) break;
  }
  // Flush the client's last flight (its alert, or its Finished in TLS 1.2).
  (void)client.do_handshake();
  capture(co, si, t.client_bytes);
  (void)server.do_handshake();
  capture(so, ci, t.server_bytes);
  t.completed = client.is_handshake_complete() && server.is_handshake_complete();
  if (!t.completed) return t;
  t.reused = client.session_reused();

  // A request, a response (which carries TLS 1.3 tickets first), and a
  // clean shutdown from both ends.
  const std::size_t handshake_end = t.server_bytes.size();
  (void)client.write(std::string_view("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  capture(co, si, t.client_bytes);
  (void)server.read(4096);
  (void)server.write(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
  capture(so, ci, t.server_bytes);
  (void)client.read(4096);
  t.session = client.session();
  (void)client.unwrap();
  capture(co, si, t.client_bytes);
  (void)server.read(4096);
  (void)server.unwrap();
  capture(so, ci, t.server_bytes);
  (void)client.unwrap();
  t.server_after = t.server_bytes.substr(handshake_end);
  return t;
}

// record runs one connection as a target runs an input (run_input), so in
// deep mode the client's first flight (its random, session id and key
// shares) is byte for byte the one the target's client sends.
Transcript record(const sanstls::Context& client_ctx, const sanstls::Context& server_ctx,
                  const std::string& hostname,
                  const std::optional<sanstls::Session>& session = std::nullopt, bool early = false) {
  Transcript t;
  std::exception_ptr failure;
  sanstls_fuzz::run_input([&] {
    try {
      t = record_connection(client_ctx, server_ctx, hostname, session, early);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  if (failure) std::rethrow_exception(failure);
  return t;
}

std::string header(std::uint8_t flags, std::uint8_t chunk_seed, std::uint8_t how) {
  return {static_cast<char>(flags), static_cast<char>(chunk_seed), static_cast<char>(how)};
}

std::string flags_name(std::uint8_t flags) {
  std::string name = (flags & sanstls_fuzz::config::tls12) ? "tls12" : "tls13";
  if (flags & sanstls_fuzz::config::alpn) name += "-alpn";
  if (flags & sanstls_fuzz::config::client_cert) name += "-clientcert";
  return name;
}

void record_handshakes(const fs::path& dir) {
  using namespace sanstls_fuzz;
  struct Variant {
    std::uint8_t chunk_seed;
    std::uint8_t how;
    const char* name;
  };
  const Variant variants[] = {
      {0, 0, "whole"}, {1, unwrap_at_end, "bytewise"}, {7, via_read | eof_at_end, "chunks"}};
  int v = 0;
  for (std::uint8_t flags : {std::uint8_t{0}, config::tls12, config::alpn,
                             std::uint8_t(config::tls12 | config::alpn), config::client_cert,
                             std::uint8_t(config::tls12 | config::client_cert)}) {
    Transcript t = record(make_client_context(flags), make_server_context(flags), "localhost");
    if (!t.completed) throw std::runtime_error("handshake failed: " + flags_name(flags));
    const Variant& var = variants[v++ % 3];
    write_file(dir / "client_handshake" / (flags_name(flags) + "-" + var.name),
               header(flags, var.chunk_seed, var.how) + t.server_bytes);
    write_file(dir / "server_handshake" / (flags_name(flags) + "-" + var.name),
               header(flags, var.chunk_seed, var.how) + t.client_bytes);
  }

  // Resumption: TLS 1.3 PSK and TLS 1.2 tickets, with the client's
  // session in the client seed and the fixed ticket key on the server.
  for (std::uint8_t flags : {std::uint8_t{0}, config::tls12}) {
    sanstls::Context client_ctx = make_client_context(flags);
    sanstls::Context server_ctx = make_server_context(flags);
    Transcript first = record(client_ctx, server_ctx, "localhost");
    if (!first.session || !first.session->is_resumable()) throw std::runtime_error("no session");
    Transcript second = record(client_ctx, server_ctx, "localhost", first.session);
    if (!second.reused) throw std::runtime_error("not resumed: " + flags_name(flags));
    const std::string blob = first.session->to_bytes();
    std::string session_part{static_cast<char>(blob.size() >> 8), static_cast<char>(blob.size() & 0xff)};
    write_file(dir / "client_handshake" / (flags_name(flags) + "-resumed"),
               header(flags | config::session, 0, 0) + session_part + blob + second.server_bytes);
    write_file(dir / "server_handshake" / (flags_name(flags) + "-resumed"),
               header(flags, 0, 0) + second.client_bytes);
  }

  // SNI: the server's callback goes on, switches context, or sends an alert.
  for (const char* name : {"localhost", "other.test", "alert.test"}) {
    sanstls::Context client_ctx = make_client_context(0);
    Transcript t = record(client_ctx, make_server_context(config::sni), name);
    write_file(dir / "server_handshake" / (std::string("tls13-sni-") + name),
               header(config::sni, 0, 0) + t.client_bytes);
  }

  // The application's callbacks, answered at once or pending (now, a turn
  // later, with a failure, never): the server's signer and ClientHello
  // callback, and in TLS 1.2 (whose certificate is in the clear, so a
  // target reaches it without deep mode) the client's verify callback.
  // Recorded with answers at once; the header's actions byte replays them
  // each way.
  {
    struct Answer {
      std::uint8_t how;
      const char* name;
    };
    const Answer answers[] = {{0, "at-once"},
                              {actions::pending | actions::answer_now, "pending-now"},
                              {actions::pending | actions::answer_later, "pending-later"},
                              {actions::pending | actions::answer_failure, "pending-failure"},
                              {actions::pending | actions::answer_never, "pending-never"}};
    for (std::uint8_t flags : {config::callbacks, std::uint8_t(config::callbacks | config::tls12)}) {
      Transcript t = record(make_client_context(flags), make_server_context(flags), "localhost");
      if (!t.completed) throw std::runtime_error("handshake failed: callbacks " + flags_name(flags));
      int n = 0;
      for (const Answer& a : answers) {
        const std::uint8_t chunk_seed = n++ % 2 == 0 ? 0 : 5;
        write_file(dir / "server_handshake" / (flags_name(flags) + "-callbacks-" + a.name),
                   header(flags, chunk_seed, a.how) + t.client_bytes);
        write_file(dir / "client_handshake" / (flags_name(flags) + "-callbacks-" + a.name),
                   header(flags, chunk_seed, a.how) + t.server_bytes);
      }
    }
  }

  // TLS 1.3 early data: a resumption whose first flight carries 0-RTT data
  // (the callbacks contexts have it on), accepted.
  {
    const std::uint8_t flags = config::callbacks;
    sanstls::Context client_ctx = make_client_context(flags);
    sanstls::Context server_ctx = make_server_context(flags);
    Transcript first = record(client_ctx, server_ctx, "localhost");
    if (!first.session || !first.session->is_resumable()) throw std::runtime_error("no session for 0-RTT");
    Transcript second = record(client_ctx, server_ctx, "localhost", first.session, true);
    if (!second.reused) throw std::runtime_error("0-RTT: not resumed");
    const std::string blob = first.session->to_bytes();
    std::string session_part{static_cast<char>(blob.size() >> 8), static_cast<char>(blob.size() & 0xff)};
    write_file(dir / "client_handshake" / "tls13-early-data",
               header(flags | config::session, 0, actions::via_write) + session_part + blob + second.server_bytes);
    write_file(dir / "server_handshake" / "tls13-early-data", header(flags, 3, 0) + second.client_bytes);
  }

  // Real records of another connection (an application data record and a
  // close_notify, and in TLS 1.3 the tickets): right headers, wrong keys
  // (in deep mode: records the victim decrypts and parses).
  for (std::uint8_t flags : {std::uint8_t{0}, sanstls_fuzz::config::tls12}) {
    Transcript t = record(make_client_context(flags), make_server_context(flags), "localhost");
    namespace ops = sanstls_fuzz::session_records_ops;
    std::string p{static_cast<char>(flags), ops::op_raw, static_cast<char>(t.server_after.size() >> 8),
                  static_cast<char>(t.server_after.size() & 0xff)};
    p += t.server_after;
    p += std::string{ops::op_victim_read, 100, ops::op_victim_write, 3};
    write_file(dir / "session_records" / (flags_name(flags) + "-foreign-records"), p);
  }
}

// record_programs writes the session_records programs that need no
// recording (operations: session_records_ops in fuzz_support.hpp).
void record_programs(const fs::path& dir) {
  using namespace sanstls_fuzz::session_records_ops;
  for (char config = 0; config < 8; ++config) {
    std::string p{config, op_peer_write, 99, op_deliver, 0, op_victim_read, char(255),
                  op_victim_write, 50, op_peer_write, 20, op_deliver, 3, op_victim_read, 10,
                  op_deliver, 0, op_victim_read, char(200), op_peer_unwrap, op_deliver, 0,
                  op_victim_read, 0, op_victim_unwrap};
    write_file(dir / "session_records" / ("basic-" + std::to_string(int(config))), p);
  }
  write_file(dir / "session_records" / "tls13-key-update",
             std::string{0, op_peer_key_update, 1, op_deliver, 0, op_victim_read, 10, op_victim_write, 5,
                         op_peer_key_update, 0, op_peer_write, 30, op_deliver, 0, op_victim_read, 40});
  write_file(dir / "session_records" / "tls13-server-key-update",
             std::string{2, op_peer_key_update, 1, op_deliver, 0, op_victim_read, 10, op_victim_write, 5});
  write_file(dir / "session_records" / "tls12-flip",
             std::string{1, op_peer_write, 40, op_flip, 0, 30, 4, op_deliver, 0, op_victim_read, 50});
  write_file(dir / "session_records" / "tls13-replay",
             std::string{0, op_peer_write, 40, op_replay, op_deliver, 0, op_victim_read, 50,
                         op_victim_read, 50});
  write_file(dir / "session_records" / "tls13-drop-eof",
             std::string{0, op_peer_write, 40, op_drop, 10, op_deliver, 0, op_eof, op_victim_read, 50});
}

void record_helpers(const fs::path& dir) {
  // memory_bio: operation programs (memory_bio_ops in fuzz_support.hpp).
  using namespace sanstls_fuzz::memory_bio_ops;
  write_file(dir / "memory_bio" / "write-read",
             std::string{op_write, 5, 'h', 'e', 'l', 'l', 'o', op_write_string, 3, 'a', 'b', 'c',
                         op_read_n, 0, 2, op_read_into, 4, op_copy_handle, op_read_all, op_write_eof,
                         op_read_all});
  write_file(dir / "memory_bio" / "prepare-commit",
             std::string{op_prepare, 10, op_fill, 4, 'a', 'b', 'c', 'd', op_write, 1, 'x', op_read_all,
                         op_fill, 2, 'e', 'f', op_commit, 6, op_readable_consume, 2, op_prepare, 1,
                         op_commit, 0, op_write_eof, op_commit, 0});
  write_file(dir / "memory_bio" / "big",
             std::string{op_prepare, char(255), op_fill, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, op_commit,
                         char(200), op_read_n, 0, 100, op_readable_consume, 50, op_prepare, 3, op_write,
                         0, op_commit, 3, op_read_all});

  // certificate_decode: [hostname length] [hostname] [DER].
  sanstls::testing::CertificateAuthority ca = sanstls::testing::CertificateAuthority::create("fuzz seed CA");
  sanstls::testing::Issued many = ca.issue({.common_name = "many.example",
                                            .dns_names = {"many.example", "*.many.example"},
                                            .ip_addresses = {"192.0.2.7", "2001:db8::7"},
                                            .emails = {"fuzz@many.example"}});
  auto cert_seed = [&](const char* file, std::string_view host, std::string_view der) {
    write_file(dir / "certificate_decode" / file,
               std::string(1, static_cast<char>(host.size())) + std::string(host) + std::string(der));
  };
  cert_seed("server-localhost", "localhost", sanstls::pem_cert_to_der_cert(sanstls_fuzz::test_keys::server_cert_pem));
  cert_seed("server-ip", "127.0.0.1", sanstls::pem_cert_to_der_cert(sanstls_fuzz::test_keys::server_cert_pem));
  cert_seed("ca", "sanstls fuzz test CA", sanstls::pem_cert_to_der_cert(sanstls_fuzz::test_keys::ca_pem));
  cert_seed("client", "client", sanstls::pem_cert_to_der_cert(sanstls_fuzz::test_keys::client_cert_pem));
  cert_seed("many-wildcard", "www.many.example", many.certificate_der);
  cert_seed("many-ipv6", "2001:db8::7", many.certificate_der);
  cert_seed("time", "Jan  5 09:34:43 2018 GMT", "\x30\x03\x02\x01\x01");
  cert_seed("pem-text", "example.com", sanstls::der_cert_to_pem_cert(sanstls::as_bytes(many.certificate_der)));
}

void new_certs(const fs::path& file) {
  using namespace sanstls::testing;
  const std::int64_t ten_years = 10LL * 365 * 24 * 3600;
  CertificateAuthority ca = CertificateAuthority::create("sanstls fuzz test CA");
  Issued server = ca.issue({.common_name = "localhost",
                            .dns_names = {"localhost"},
                            .ip_addresses = {"127.0.0.1", "::1"},
                            .not_after_offset = ten_years});
  Issued client = ca.issue({.common_name = "fuzz client", .not_after_offset = ten_years, .client_auth = true});
  auto literal = [](const char* name, const std::string& pem) {
    return "inline constexpr const char* " + std::string(name) + " = R\"PEM(" + pem + ")PEM\";\n";
  };
  std::string text =
      "// fuzz/certs/test_keys.hpp: the fixed certificates of the fuzz targets and\n"
      "// their seed corpora. TEST-ONLY KEYS, published on purpose: never trust this\n"
      "// CA or use these keys for anything else. Generated by\n"
      "// `record_corpus --new-certs fuzz/certs/test_keys.hpp`; the leaf\n"
      "// certificates are valid for 10 years from then.\n"
      "#ifndef SANSTLS_FUZZ_TEST_KEYS_HPP\n#define SANSTLS_FUZZ_TEST_KEYS_HPP\n\n"
      "namespace sanstls_fuzz::test_keys {\n\n";
  text += literal("ca_pem", ca.certificate_pem());
  text += literal("server_cert_pem", server.certificate_pem);
  text += literal("server_key_pem", server.private_key_pem);
  text += literal("client_cert_pem", client.certificate_pem);
  text += literal("client_key_pem", client.private_key_pem);
  text += "\n}  // namespace sanstls_fuzz::test_keys\n\n#endif  // SANSTLS_FUZZ_TEST_KEYS_HPP\n";
  write_file(file, text);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::string_view(argv[1]) == "--new-certs") {
      new_certs(argv[2]);
    } else if (argc == 2) {
      record_handshakes(argv[1]);
      if (!sanstls_fuzz::deep_mode) {
        record_programs(argv[1]);
        record_helpers(argv[1]);
      }
    } else {
      std::fprintf(stderr, "usage: %s CORPUS_DIR | --new-certs HEADER\n", argv[0]);
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "record_corpus: %s\n", e.what());
    return 1;
  }
  std::printf("wrote %zu file(s)\n", written);
  return 0;
}
