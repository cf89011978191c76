// Contexts, sessions and callbacks shared by threads while connections run,
// for the plain builds and for ThreadSanitizer (a -Db_sanitize=thread
// build, run with TSAN_OPTIONS=suppressions=test/tsan.supp, which says why;
// it runs fewer rounds there). What is tested is
// the contract of docs/design.md ("Ownership and threads") and context.hpp:
// configure a Context, then use it from any number of threads; an Object
// and its MemoryBIOs belong to one thread at a time; a Session may be used
// from any thread; set_ticket_keys rotates the keys while handshakes run.
// Configuration calls other than set_ticket_keys are made before the
// threads start.
//
// Catch2 2.x assertions are not thread-safe, so the threads only record what
// they saw; the test's own thread asserts it after joining them.
#include <catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sanstls/boringssl.hpp>  // SSL_CTX_sess_set_cache_size, which sanstls does not wrap

#include "support.hpp"

#if defined(__SANITIZE_THREAD__)
#define THREADS_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define THREADS_TEST_TSAN 1
#endif
#endif
#ifndef THREADS_TEST_TSAN
#define THREADS_TEST_TSAN 0
#endif

using sanstls::CertStoreStats;
using sanstls::CipherDescription;
using sanstls::Context;
using sanstls::MemoryBIO;
using sanstls::MessageInfo;
using sanstls::Object;
using sanstls::Options;
using sanstls::Session;
using sanstls::SessionStats;
using sanstls::TicketKey;
using sanstls::TLSVersion;
using sanstls::VerifyMode;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using sanstls::testing::Transport;

namespace {

constexpr int kWorkers = 4;
// Rounds per worker after the first; each round is a full and a resumed
// handshake of each version. ThreadSanitizer makes our code several times
// slower (BoringSSL itself is not instrumented).
constexpr int kRounds = THREADS_TEST_TSAN ? 60 : 150;

enum Version : int { tls12 = 0, tls13 = 1 };
constexpr Version kVersions[] = {tls12, tls13};
const char* const kVersionNames[] = {"TLSv1.2", "TLSv1.3"};

// Gate lets every thread go on only once all have arrived (std::latch,
// with a lock ThreadSanitizer reads plainly).
class Gate {
 public:
  explicit Gate(int count) : count_(count) {}
  void arrive_and_wait() {
    std::unique_lock lock(mutex_);
    if (--count_ == 0) {
      opened_.notify_all();
      return;
    }
    opened_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  int count_;
};

// Board is where each worker leaves its newest session of each version,
// for the other workers to resume.
class Board {
 public:
  void put(int worker, Version v, Session session) {
    std::lock_guard lock(mutex_);
    slots_[worker][v] = std::move(session);
  }
  std::optional<Session> get(int worker, Version v) {
    std::lock_guard lock(mutex_);
    return slots_[worker][v];
  }

 private:
  std::mutex mutex_;
  std::optional<Session> slots_[kWorkers][2];
};

// Outcome is what one connection did, as its worker saw it.
struct Outcome {
  std::string failure;  // empty when everything went as expected
  bool reused = false;  // both sides resumed
  std::optional<Session> session;
};

// connect runs one client (offering |offer|) against one server in memory:
// the handshake, then a message each way. Every third connection's bytes
// travel in random chunks, so records arrive split.
Outcome connect(const Context& client_ctx, const Context& server_ctx, Version v,
                std::optional<Session> offer, std::uint64_t seed) {
  Outcome out;
  MemoryBIO ci, co, si, so;
  Object client = client_ctx.wrap_bio(ci, co, false, "localhost", std::move(offer));
  Object server = server_ctx.wrap_bio(si, so, true);
  const bool chunked = seed % 3 == 0;
  Pipe pipe(client, server, chunked ? Transport::random_chunks(seed, 700) : Transport::everything(),
            chunked ? Transport::random_chunks(seed + 1, 700) : Transport::everything());
  if (!pipe.handshake()) {
    out.failure = "handshake: client " + test::describe(pipe.last(Side::client)) + ", server " +
                  test::describe(pipe.last(Side::server));
    return out;
  }
  if (client.version() != kVersionNames[v] || server.version() != kVersionNames[v]) {
    out.failure = "negotiated " + client.version().value_or("nothing") + ", not " + kVersionNames[v];
    return out;
  }
  const std::string ping = "ping " + std::to_string(seed);
  const std::string pong = "pong " + std::to_string(seed);
  if (pipe.send(Side::client, ping).status != sanstls::Status::done ||
      pipe.take_received(Side::server) != ping ||
      pipe.send(Side::server, pong).status != sanstls::Status::done ||
      pipe.take_received(Side::client) != pong) {
    out.failure = "data did not go through: client " + test::describe(pipe.last(Side::client)) +
                  ", server " + test::describe(pipe.last(Side::server));
    return out;
  }
  if (client.session_reused() != server.session_reused()) {
    out.failure = "the sides disagree on resumption";
    return out;
  }
  out.reused = client.session_reused();
  // TLS 1.3 tickets came after the handshake; the Pipe has read them.
  out.session = client.session();
  if (!out.session || !out.session->is_resumable()) out.failure = "no resumable session";
  return out;
}

// WorkerReport is what one worker counted.
struct WorkerReport {
  int full[2] = {0, 0};
  int resumed[2] = {0, 0};
  std::vector<std::string> failures;
};

// Snapshot is what the getters of a Context say; a reader thread compares
// it with the one taken before the workers started.
struct Snapshot {
  Options options;
  VerifyMode verify_mode;
  bool check_hostname;
  TLSVersion minimum_version;
  TLSVersion maximum_version;
  sanstls::VerifyFlags verify_flags;
  std::vector<CipherDescription> ciphers;
  CertStoreStats store;
  std::vector<std::string> ca_der;
  std::vector<sanstls::Certificate> ca_certs;
  std::optional<std::string> keylog_filename;

  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Context& ctx) {
  return Snapshot{ctx.options(),          ctx.verify_mode(),      ctx.check_hostname(),
                  ctx.minimum_version(),  ctx.maximum_version(),  ctx.verify_flags(),
                  ctx.get_ciphers(),      ctx.cert_store_stats(), ctx.get_ca_certs(sanstls::binary_form),
                  ctx.get_ca_certs(),     ctx.keylog_filename()};
}

// grew returns true when no counter of |now| is below |before|'s.
bool grew(const SessionStats& before, const SessionStats& now) {
  return now.connect >= before.connect && now.connect_good >= before.connect_good &&
         now.accept >= before.accept && now.accept_good >= before.accept_good &&
         now.hits >= before.hits && now.misses >= before.misses &&
         now.timeouts >= before.timeouts && now.cache_full >= before.cache_full;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("contexts, sessions and callbacks shared by threads while connections run",
          "[threads]") {
  test::TempDir dir;
  const std::string keylog_path = dir.path("keys.log");

  // ---- Configuration, before any thread starts ---------------------------

  // One server Context for both versions: its session cache keeps the TLS
  // 1.2 sessions (the TLS 1.2 client sends no ticket extension), its
  // tickets under rotating keys resume TLS 1.3.
  Context server = test::server_context();
  std::vector<TicketKey> ticket_keys{TicketKey::generate()};
  server.set_ticket_keys(ticket_keys);
  server.set_keylog_filename(keylog_path);
  std::atomic<int> server_keylog_lines{0};
  server.set_keylog_callback([&](std::string_view line) {
    if (!line.empty()) ++server_keylog_lines;
  });
  std::atomic<int> sni_calls{0}, sni_wrong{0};
  server.set_sni_callback([&](Object& object, const std::optional<std::string>& name,
                              const Context& context) -> std::optional<sanstls::AlertDescription> {
    ++sni_calls;
    if (name != "localhost" || !object.server_side() || context.protocol() != sanstls::Protocol::tls_server) {
      ++sni_wrong;
    }
    return std::nullopt;
  });
  std::atomic<int> hellos_received{0}, messages{0}, messages_wrong{0};
  server.set_msg_callback([&](const MessageInfo& m) {
    ++messages;
    if (!m.server_side || m.data.empty()) ++messages_wrong;
    if (!m.sent && m.content_type == sanstls::ContentType::handshake && m.msg_type == 1) ++hellos_received;
  });

  // Two client Contexts, since versions are a Context's setting: one that
  // offers TLS 1.3, one that stops at TLS 1.2 and asks for session IDs
  // rather than tickets, so that the server's cache holds its sessions.
  Context clients[2] = {test::client_context(), test::client_context()};
  clients[tls12].set_maximum_version(TLSVersion::tlsv1_2);
  clients[tls12].set_options(clients[tls12].options() | Options::no_ticket);
  std::atomic<int> verify_calls{0}, verify_wrong{0};
  std::atomic<int> client_keylog_lines{0};
  for (Context& client : clients) {
    client.set_verify_callback([&](Object& object, const sanstls::PeerCertificates& peer) {
      ++verify_calls;
      if (peer.verify_code != sanstls::VerifyCode::ok || peer.chain.empty() ||
          peer.server_hostname != "localhost" || object.server_side()) {
        ++verify_wrong;
        return sanstls::VerifyReply::reject("unexpected peer: " + peer.verify_message);
      }
      return sanstls::VerifyReply::accept();
    });
    client.set_keylog_callback([&](std::string_view line) {
      if (!line.empty()) ++client_keylog_lines;
    });
  }

  const Snapshot server_before = snapshot(server);
  const Snapshot client_before[2] = {snapshot(clients[0]), snapshot(clients[1])};
  REQUIRE(client_before[tls13].store.x509_ca == 1);
  REQUIRE(client_before[tls13].ca_certs.size() == 1);

  // ---- The threads --------------------------------------------------------

  Board board;
  Gate published(kWorkers);
  std::atomic<int> running{kWorkers};
  WorkerReport reports[kWorkers];
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      WorkerReport& report = reports[w];
      std::uint64_t seed = static_cast<std::uint64_t>(w) * 1'000'000;
      auto run = [&](Version v, std::optional<Session> offer) {
        const bool resuming = offer.has_value();
        Outcome out = connect(clients[v], server, v, std::move(offer), ++seed);
        if (out.failure.empty() && out.reused != resuming) {
          out.failure = resuming ? "the offered session was not resumed" : "a fresh handshake resumed";
        }
        if (!out.failure.empty()) {
          report.failures.push_back("worker " + std::to_string(w) + ", " + kVersionNames[v] +
                                    (resuming ? " resumed: " : " full: ") + out.failure);
          return;
        }
        ++(resuming ? report.resumed : report.full)[v];
        board.put(w, v, *out.session);
      };
      // A full handshake of each version, whose sessions the others resume.
      for (Version v : kVersions) run(v, std::nullopt);
      published.arrive_and_wait();
      for (int round = 1; round <= kRounds; ++round) {
        // Another worker's newest session: made on its thread, its Session
        // handle copied to this one, maybe resumed by a third at once.
        int other = (w + round) % kWorkers;
        if (other == w) other = (other + 1) % kWorkers;
        for (Version v : kVersions) {
          run(v, std::nullopt);
          std::optional<Session> offer = board.get(other, v);
          if (!offer) {
            report.failures.push_back("worker " + std::to_string(other) + " published no session");
            continue;
          }
          run(v, std::move(offer));
        }
      }
      --running;
    });
  }

  // The server's ticket keys rotate while the workers run: a new key first,
  // the old ones kept, so every ticket issued stays valid.
  std::atomic<int> rotations{0};
  threads.emplace_back([&] {
    while (running > 0 && ticket_keys.size() < 500) {
      ticket_keys.insert(ticket_keys.begin(), TicketKey::generate());
      server.set_ticket_keys(ticket_keys);
      ++rotations;
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });

  // The getters, read while the workers run: the configuration stays what
  // it was, and the session counters only grow.
  std::atomic<int> reads{0};
  std::vector<std::string> reader_failures;
  threads.emplace_back([&] {
    SessionStats last = server.session_stats();
    do {
      if (!(snapshot(server) == server_before)) reader_failures.push_back("the server's getters changed");
      for (Version v : kVersions) {
        if (!(snapshot(clients[v]) == client_before[v])) {
          reader_failures.push_back(std::string("the ") + kVersionNames[v] + " client's getters changed");
        }
      }
      SessionStats now = server.session_stats();
      if (!grew(last, now)) reader_failures.push_back("a session counter went down");
      last = now;
      ++reads;
    } while (running > 0 && reader_failures.empty());
  });

  for (std::thread& t : threads) t.join();

  // ---- What the threads saw ------------------------------------------------

  std::vector<std::string> failures = reader_failures;
  for (const WorkerReport& r : reports) failures.insert(failures.end(), r.failures.begin(), r.failures.end());
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  REQUIRE(failures.empty());

  int full[2] = {0, 0}, resumed[2] = {0, 0};
  for (const WorkerReport& r : reports) {
    for (Version v : kVersions) {
      full[v] += r.full[v];
      resumed[v] += r.resumed[v];
    }
  }
  // Every handshake completed, and every offered session was resumed.
  for (Version v : kVersions) {
    INFO(kVersionNames[v]);
    CHECK(full[v] == kWorkers * (1 + kRounds));
    CHECK(resumed[v] == kWorkers * kRounds);
  }
  const int handshakes = full[tls12] + full[tls13] + resumed[tls12] + resumed[tls13];
  CHECK(rotations > 0);
  CHECK(reads > 0);

  // Each callback ran once per handshake it concerns, whatever the thread.
  CHECK(sni_calls == handshakes);
  CHECK(sni_wrong == 0);
  CHECK(verify_calls == full[tls12] + full[tls13]);  // resumptions send no certificate
  CHECK(verify_wrong == 0);
  CHECK(hellos_received == handshakes);
  CHECK(messages > handshakes);
  CHECK(messages_wrong == 0);
  // TLS 1.3 logs five secrets per connection, TLS 1.2 its master secret.
  const int keylog_lines = 5 * (full[tls13] + resumed[tls13]) + full[tls12] + resumed[tls12];
  CHECK(server_keylog_lines == keylog_lines);
  CHECK(client_keylog_lines == keylog_lines);

  // The key log file holds every line whole: the header, then one set per
  // connection, found by its client random.
  std::vector<std::string> lines = split_lines(slurp(keylog_path));
  REQUIRE(lines.size() == 1 + static_cast<std::size_t>(keylog_lines));
  CHECK(lines[0] == "# TLS secrets log file, generated by OpenSSL / Python");
  std::map<std::string, std::set<std::string>> labels_by_random;
  std::size_t malformed = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::size_t a = line.find(' ');
    const std::size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
    if (b == std::string::npos || b - a - 1 != 64 || line.size() - b - 1 < 64) {
      ++malformed;
      continue;
    }
    if (!labels_by_random[line.substr(a + 1, 64)].insert(line.substr(0, a)).second) ++malformed;
  }
  CHECK(malformed == 0);
  CHECK(labels_by_random.size() == static_cast<std::size_t>(handshakes));
  const std::set<std::string> tls12_labels{"CLIENT_RANDOM"};
  const std::set<std::string> tls13_labels{"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
                                           "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                                           "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0",
                                           "EXPORTER_SECRET"};
  int sets[2] = {0, 0};
  for (const auto& [random, labels] : labels_by_random) {
    if (labels == tls12_labels) {
      ++sets[tls12];
    } else if (labels == tls13_labels) {
      ++sets[tls13];
    }
  }
  CHECK(sets[tls12] == full[tls12] + resumed[tls12]);
  CHECK(sets[tls13] == full[tls13] + resumed[tls13]);

  // The counters add up: every handshake counted once, on its Context.
  const SessionStats s = server.session_stats();
  CHECK(s.accept == static_cast<std::size_t>(handshakes));
  CHECK(s.accept_good == static_cast<std::size_t>(handshakes));
  CHECK(s.hits == static_cast<std::size_t>(resumed[tls12] + resumed[tls13]));
  CHECK(s.misses == 0);
  CHECK(s.timeouts == 0);
  CHECK(s.cache_full == 0);
  CHECK(s.number == static_cast<std::size_t>(full[tls12]));  // TLS 1.3 resumes by ticket only
  for (Version v : kVersions) {
    INFO(kVersionNames[v]);
    const SessionStats c = clients[v].session_stats();
    CHECK(c.connect == static_cast<std::size_t>(full[v] + resumed[v]));
    CHECK(c.connect_good == static_cast<std::size_t>(full[v] + resumed[v]));
    CHECK(c.number == 0);  // clients keep their sessions in their Objects
  }
}

TEST_CASE("a full session cache evicts while threads handshake", "[threads][session]") {
  // A small cache, so that most new sessions push an old one out while
  // other threads look sessions up and add their own.
  constexpr std::size_t kCacheSize = 8;
  constexpr int kConnections = THREADS_TEST_TSAN ? 80 : 200;
  Context server = test::server_context();
  SSL_CTX_sess_set_cache_size(sanstls::native_handle(server), kCacheSize);
  Context client = test::client_context();
  client.set_maximum_version(TLSVersion::tlsv1_2);
  client.set_options(client.options() | Options::no_ticket);  // session IDs: the server's cache

  Board board;
  struct Counts {
    int offered = 0, reused = 0, fresh = 0;
    std::vector<std::string> failures;
  } counts[kWorkers];
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      Counts& c = counts[w];
      for (int i = 0; i < kConnections; ++i) {
        // Odd connections offer another worker's newest session, which may
        // have been evicted by now: then the handshake is a full one.
        std::optional<Session> offer;
        if (i % 2 == 1) offer = board.get((w + 1) % kWorkers, tls12);
        Outcome out = connect(client, server, tls12, offer,
                              static_cast<std::uint64_t>(w) * 1'000'000 + static_cast<std::uint64_t>(i) + 1);
        if (!out.failure.empty()) {
          c.failures.push_back("worker " + std::to_string(w) + ": " + out.failure);
          continue;
        }
        if (offer) ++c.offered;
        ++(out.reused ? c.reused : c.fresh);
        board.put(w, tls12, *out.session);
      }
    });
  }
  for (std::thread& t : threads) t.join();

  int offered = 0, reused = 0, fresh = 0;
  for (const Counts& c : counts) {
    for (const std::string& f : c.failures) UNSCOPED_INFO(f);
    REQUIRE(c.failures.empty());
    offered += c.offered;
    reused += c.reused;
    fresh += c.fresh;
  }
  REQUIRE(fresh + reused == kWorkers * kConnections);
  REQUIRE(fresh > static_cast<int>(kCacheSize));
  const SessionStats s = server.session_stats();
  CHECK(s.accept_good == static_cast<std::size_t>(kWorkers * kConnections));
  CHECK(s.hits == static_cast<std::size_t>(reused));
  CHECK(s.misses == static_cast<std::size_t>(offered - reused));
  // Every full handshake cached a new session; all but the last few were
  // pushed out by later ones.
  CHECK(s.number == kCacheSize);
  CHECK(s.cache_full == static_cast<std::size_t>(fresh) - kCacheSize);
  CHECK(s.timeouts == 0);
}

TEST_CASE("one CertificateAuthority issues on several threads at once", "[threads]") {
  // Its calls only read the CA: its certificate, and its key to sign with.
  const sanstls::testing::CertificateAuthority& ca = test::pki().ca;
  constexpr int kEach = 3;
  std::vector<sanstls::testing::Issued> issued[kWorkers];
  std::string crls[kWorkers];
  std::string intermediates[kWorkers];
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        issued[w].push_back(ca.issue({.common_name = "localhost", .dns_names = {"localhost"}}));
      }
      crls[w] = ca.crl_pem({issued[w].front()});
      intermediates[w] = ca.intermediate("intermediate " + std::to_string(w)).certificate_pem();
    });
  }
  for (std::thread& t : threads) t.join();

  std::set<std::string> distinct;
  for (int w = 0; w < kWorkers; ++w) {
    CHECK(crls[w].rfind("-----BEGIN X509 CRL-----", 0) == 0);
    CHECK(intermediates[w].rfind("-----BEGIN CERTIFICATE-----", 0) == 0);
    for (const sanstls::testing::Issued& cert : issued[w]) {
      distinct.insert(cert.certificate_der);
      // Each one is a working certificate of this CA.
      test::require_ok(test::handshake(test::client_context(), test::server_with(cert)));
    }
  }
  CHECK(distinct.size() == kWorkers * kEach);
}
