// bench/load/soak.cpp: `sanstls-load soak` (issue 15), a long run of
// handshakes through one server Context, in memory, in one process, that
// watches what could grow: resident memory, the heap, the server's session
// cache.
//
// One server Context (an ECDSA certificate from a CertificateAuthority;
// client certificates optional, verified against the CA when sent) meets
// six client Contexts, one per kind (kKinds): TLS 1.3 and TLS 1.2, each
// with and without a client certificate, TLS 1.2 resuming by ticket or by
// session ID. Handshake i uses kind i % 6; of every twelve, the first six
// are full handshakes and the next six resume a session, picked
// deterministically from the last --pool sessions that kind got from a
// full handshake. Every handshake is checked: it completes at the right
// version, both sides agree on whether it resumed, the server sees a
// client certificate exactly when the kind has one, a message goes each
// way, both sides close with close_notify.
//
// A resumption may fall back to a full handshake for two reasons only,
// and the soak predicts which, handshake by handshake, from BoringSSL's
// rules, and fails on any other outcome:
// * the server rotates its ticket keys every --rotate-every handshakes and
//   keeps the new key and the one before (set_ticket_keys), so a ticket
//   sealed two or more rotations ago is refused;
// * the server's session cache holds --cache-size sessions. Only TLS 1.2
//   sessions without tickets enter it (BoringSSL gives a session an ID
//   only when no ticket is sent, and caches only sessions with an ID); a
//   full cache drops its oldest entry, and neither a lookup nor a
//   resumption reorders it (ssl_lookup_session, add_session_locked), so a
//   session is still cached while fewer than --cache-size sessions were
//   added after it.
// The same model gives the cache's size and evictions, compared with
// session_stats() after every handshake, as are its hits and misses.
//
// Memory is sampled every --sample-every handshakes: resident set size
// (/proc/self/statm) and the heap in use (glibc's mallinfo2). The run is
// warmed up once every client kind's pool and the server cache are full
// and --warmup-samples samples were taken; from the first sample after
// that to the last, neither may grow by more than --max-growth-pct (1 %).
// Sanitizer builds report memory but do not check it (kSanitizerAllocator).
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sanstls/sanstls.hpp>
#include <sanstls/testing/certificates.hpp>
#include <sanstls/testing/pipe.hpp>

#include "load.hpp"

namespace sanstls_load {

namespace {

// kSanitizerAllocator names the sanitizer whose allocator this build runs
// on, if any. AddressSanitizer keeps freed memory in quarantine, so the
// resident set grows with it by design; it and ThreadSanitizer and
// MemorySanitizer serve malloc themselves, so glibc's mallinfo2 does not
// see the heap (AddressSanitizer's answers zeros). The memory bound means
// nothing then, and is reported but not checked. UndefinedBehaviorSanitizer
// alone keeps glibc's allocator, and the bound.
#if defined(__SANITIZE_ADDRESS__)
constexpr const char* kSanitizerAllocator = "AddressSanitizer";
#elif defined(__SANITIZE_THREAD__)
constexpr const char* kSanitizerAllocator = "ThreadSanitizer";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr const char* kSanitizerAllocator = "AddressSanitizer";
#elif __has_feature(thread_sanitizer)
constexpr const char* kSanitizerAllocator = "ThreadSanitizer";
#elif __has_feature(memory_sanitizer)
constexpr const char* kSanitizerAllocator = "MemorySanitizer";
#else
constexpr const char* kSanitizerAllocator = nullptr;
#endif
#else
constexpr const char* kSanitizerAllocator = nullptr;
#endif
constexpr bool kMemoryChecked = kSanitizerAllocator == nullptr;

// Failure is a handshake that went wrong or a bound that broke: the run
// stops and the message says which.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// UsageError is a command line that cannot run.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Options are the command line; what is not given is derived from
// --handshakes by settle_defaults().
struct Options {
  std::uint64_t handshakes = 1'000'000;
  std::uint64_t sample_every = 0;  // 0: not given
  std::uint64_t cache_size = 0;
  std::uint64_t rotate_every = 0;
  std::uint64_t pool = 0;
  std::uint64_t warmup_samples = 2;
  double max_growth_pct = 1.0;
  bool malloc_trim = false;
  bool help = false;
};

// print_usage prints the options to |to|.
void print_usage(std::FILE* to) {
  std::fprintf(
      to,
      "usage: sanstls-load soak [--handshakes N] [--sample-every N] [--cache-size N]\n"
      "                         [--rotate-every N] [--pool N] [--warmup-samples N]\n"
      "                         [--max-growth-pct P] [--malloc-trim]\n"
      "  One server Context, six client Contexts (TLS 1.3 / TLS 1.2 with tickets / TLS 1.2\n"
      "  with session IDs, each with and without a client certificate), handshakes in\n"
      "  memory: half full, half resuming an earlier session. Checks every handshake,\n"
      "  the server's session cache after each, and that memory stays flat.\n"
      "  --handshakes N      how many (default 1000000)\n"
      "  --sample-every N    sample memory every N handshakes (default 50000, at most\n"
      "                      handshakes/20)\n"
      "  --cache-size N      the server's session cache limit (default 1000, at most --pool,\n"
      "                      so that resumptions find evicted sessions)\n"
      "  --rotate-every N    rotate the server's ticket keys every N handshakes; the newest\n"
      "                      two keys are accepted (default 10000, at most handshakes/10)\n"
      "  --pool N            sessions kept per client kind to resume from (default 1024, at\n"
      "                      most handshakes/80, at least 16)\n"
      "  --warmup-samples N  samples before memory is measured (default 2); measuring also\n"
      "                      waits until every pool and the server cache are full\n"
      "  --max-growth-pct P  allowed growth of RSS and heap after warm-up (default 1)\n"
      "  --malloc-trim       call malloc_trim(0) before each sample (to tell glibc's free\n"
      "                      memory from the program's)\n"
      "Prints one SAMPLE line per sample and a BENCH line; exit 0 when every check held,\n"
      "1 on a failure (named on stderr), 2 on a usage error. Runs over 2 hours break the\n"
      "cache model: TLS 1.2 sessions then expire.\n");
}

// parse_count reads |text|, the value of |option|, as a whole number of at
// least |minimum|; throws UsageError otherwise.
std::uint64_t parse_count(std::string_view option, std::string_view text, std::uint64_t minimum) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    throw UsageError(std::string(option) + " needs a whole number, not '" + std::string(text) + "'");
  }
  if (value < minimum) {
    throw UsageError(std::string(option) + " must be at least " + std::to_string(minimum));
  }
  return value;
}

// parse_options reads the command line after "soak"; throws UsageError.
Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw UsageError(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--handshakes") {
      o.handshakes = parse_count(arg, value(), 1);
    } else if (arg == "--sample-every") {
      o.sample_every = parse_count(arg, value(), 1);
    } else if (arg == "--cache-size") {
      o.cache_size = parse_count(arg, value(), 1);
    } else if (arg == "--rotate-every") {
      o.rotate_every = parse_count(arg, value(), 1);
    } else if (arg == "--pool") {
      o.pool = parse_count(arg, value(), 1);
    } else if (arg == "--warmup-samples") {
      o.warmup_samples = parse_count(arg, value(), 0);
    } else if (arg == "--max-growth-pct") {
      const std::string text(value());
      std::size_t used = 0;
      try {
        o.max_growth_pct = std::stod(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != text.size() || !(o.max_growth_pct >= 0)) {
        throw UsageError("--max-growth-pct needs a number of at least 0, not '" + text + "'");
      }
    } else if (arg == "--malloc-trim") {
      o.malloc_trim = true;
    } else if (arg == "--help" || arg == "-h") {
      o.help = true;
    } else {
      throw UsageError("unknown argument '" + std::string(arg) + "'");
    }
  }
  return o;
}

// settle_defaults fills in what was not given so that a short run (CI's)
// still samples often enough, fills its pools and cache well before the
// end, and sees both kinds of fallback: the pool spans more handshakes
// than one key rotation, and holds more session-ID sessions than the
// cache.
void settle_defaults(Options& o) {
  const std::uint64_t n = o.handshakes;
  if (o.sample_every == 0) o.sample_every = std::clamp<std::uint64_t>(n / 20, 1, 50'000);
  if (o.pool == 0) o.pool = std::clamp<std::uint64_t>(n / 80, 16, 1024);
  if (o.cache_size == 0) o.cache_size = std::min<std::uint64_t>(1000, o.pool);
  if (o.rotate_every == 0) o.rotate_every = std::clamp<std::uint64_t>(n / 10, 1, 10'000);
}

// scenario_name is soak_handshakes_1m for 1,000,000, _20k for 20,000.
std::string scenario_name(std::uint64_t n) {
  std::string count = std::to_string(n);
  if (n % 1'000'000 == 0) {
    count = std::to_string(n / 1'000'000) + "m";
  } else if (n % 1000 == 0) {
    count = std::to_string(n / 1000) + "k";
  }
  return "soak_handshakes_" + count;
}

// ---- Memory ---------------------------------------------------------------

// Memory is one sample of the process's memory.
struct Memory {
  std::uint64_t rss = 0;   // resident set size, bytes
  std::uint64_t heap = 0;  // bytes malloc has handed out and not had back
};

// measure_memory samples the process's memory now; throws Failure when
// /proc cannot be read.
Memory measure_memory() {
  Memory m;
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) throw Failure("cannot read /proc/self/statm");
  m.rss = resident_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
#if defined(__GLIBC__)
  // Small blocks in the arenas plus large ones glibc mmaps one by one.
  const struct mallinfo2 info = mallinfo2();
  m.heap = info.uordblks + info.hblkhd;
#endif
  return m;
}

// growth_pct returns how much |last| exceeds |first|, in per cent of |first|.
double growth_pct(std::uint64_t first, std::uint64_t last) {
  if (first == 0) return 0;
  return (static_cast<double>(last) - static_cast<double>(first)) * 100.0 / static_cast<double>(first);
}

// ---- Client kinds and their sessions --------------------------------------

// Resumption is how a client kind's sessions are resumed.
enum class Resumption { ticket, session_id };

// ClientKind is one client Context's settings.
struct ClientKind {
  std::string_view name;
  sanstls::TLSVersion version;  // the only version the client offers
  bool client_certificate;
  Resumption resumption;
};

constexpr std::array<ClientKind, 6> kKinds{{
    {"tls1.3", sanstls::TLSVersion::tlsv1_3, false, Resumption::ticket},
    {"tls1.3+cert", sanstls::TLSVersion::tlsv1_3, true, Resumption::ticket},
    {"tls1.2-ticket", sanstls::TLSVersion::tlsv1_2, false, Resumption::ticket},
    {"tls1.2-ticket+cert", sanstls::TLSVersion::tlsv1_2, true, Resumption::ticket},
    {"tls1.2-id", sanstls::TLSVersion::tlsv1_2, false, Resumption::session_id},
    {"tls1.2-id+cert", sanstls::TLSVersion::tlsv1_2, true, Resumption::session_id},
}};

// Saved is a session a client got from a full handshake, with what the
// server did with it then: which ticket key sealed its ticket, or where
// it entered the server's cache.
struct Saved {
  sanstls::Session session;
  std::uint64_t made_at = 0;         // the handshake's index
  std::uint64_t key_generation = 0;  // the server's ticket key generation then
  std::uint64_t cache_insert = 0;    // session IDs: how many sessions the cache took before it
};

// Pool keeps the last |capacity| sessions of one client kind, the oldest
// replaced first.
class Pool {
 public:
  explicit Pool(std::size_t capacity) : capacity_(capacity) { items_.reserve(capacity); }

  void add(Saved saved) {
    if (items_.size() < capacity_) {
      items_.push_back(std::move(saved));
    } else {
      items_[next_] = std::move(saved);
      next_ = (next_ + 1) % capacity_;
    }
  }
  bool empty() const noexcept { return items_.empty(); }
  bool full() const noexcept { return items_.size() == capacity_; }
  // pick returns the session |random| selects, uniformly over the pool.
  const Saved& pick(std::uint64_t random) const { return items_[random % items_.size()]; }

 private:
  std::size_t capacity_;
  std::size_t next_ = 0;
  std::vector<Saved> items_;
};

// splitmix64 scrambles a handshake's index into the pool pick, so the
// soak is the same every run yet picks ages all over the pool.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Outcome is what a handshake did, or what the model says it must do.
enum class Outcome {
  full,                  // a full handshake, none offered
  resumed,               // resumed the offered session
  fallback_rotated_out,  // offered a ticket whose key the server no longer has
  fallback_evicted,      // offered a session ID the server's cache dropped
};

// outcome_name says |o| in words, for failure messages.
std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::full: return "a full handshake";
    case Outcome::resumed: return "a resumption";
    case Outcome::fallback_rotated_out: return "a full handshake (ticket key rotated out)";
    case Outcome::fallback_evicted: return "a full handshake (session evicted from the cache)";
  }
  return "?";
}

// Counts are the handshakes so far, by what they did.
struct Counts {
  std::uint64_t handshakes = 0;
  std::uint64_t full = 0;  // every full handshake, fallbacks included
  std::uint64_t resumed = 0;
  std::uint64_t resumed_previous_key = 0;  // tickets under the key before the newest
  std::uint64_t fallback_rotated_out = 0;
  std::uint64_t fallback_evicted = 0;
  std::uint64_t key_rotations = 0;
  std::uint64_t client_certificates = 0;
  std::uint64_t tls13 = 0;
};

// ---- The soak ---------------------------------------------------------------

// Soak holds the server, the client kinds with their pools, and the model
// of what the server must do with each session offered.
class Soak {
 public:
  explicit Soak(const Options& options);

  // handshake runs and checks handshake |i|; throws Failure.
  void handshake(std::uint64_t i);
  // rotate_ticket_keys puts a new key first and keeps the newest old one.
  void rotate_ticket_keys();
  // steady returns true once every pool and the server cache are full.
  bool steady() const;
  // cache_max returns the most sessions the server cache held after any
  // handshake so far.
  std::size_t cache_max() const noexcept { return cache_max_; }
  // cache_size returns how many sessions the server cache holds now.
  std::size_t cache_size() const { return server_.session_stats().number; }
  // counts returns the handshakes so far, by outcome.
  const Counts& counts() const noexcept { return counts_; }

 private:
  Outcome expected(const ClientKind& kind, const Saved& offered, bool* previous_key) const;
  // check_server_stats compares session_stats() with the model after
  // handshake |i|; throws Failure.
  void check_server_stats(std::uint64_t i);

  const Options& options_;
  sanstls::testing::CertificateAuthority ca_;
  sanstls::Context server_;
  std::vector<sanstls::Context> clients_;  // one per kKinds entry
  std::vector<Pool> pools_;                // one per kKinds entry
  std::array<sanstls::TicketKey, 2> keys_;
  std::uint64_t key_generation_ = 0;
  std::uint64_t cache_inserts_ = 0;  // sessions the server cache took so far
  std::size_t cache_max_ = 0;
  Counts counts_;
};

Soak::Soak(const Options& options)
    : options_(options),
      ca_(sanstls::testing::CertificateAuthority::create("sanstls soak CA")),
      server_(sanstls::Protocol::tls_server),
      keys_{sanstls::TicketKey::generate(), sanstls::TicketKey::generate()} {
  const sanstls::testing::Issued server_cert = ca_.issue({.dns_names = {"localhost"}});
  const sanstls::testing::Issued client_cert =
      ca_.issue({.common_name = "soak client", .client_auth = true});
  const sanstls::CaData trust = sanstls::CaData::pem(ca_.certificate_pem());

  server_.load_cert_chain_pem(server_cert.certificate_pem, server_cert.private_key_pem);
  server_.load_verify_locations({.cadata = trust});
  server_.set_verify_mode(sanstls::VerifyMode::cert_optional);
  server_.set_session_cache_size(options.cache_size);
  // One key to start; rotations add the newest in front (rotate_ticket_keys).
  server_.set_ticket_keys(std::span(keys_).first(1));

  clients_.reserve(kKinds.size());
  pools_.reserve(kKinds.size());
  for (const ClientKind& kind : kKinds) {
    sanstls::Context& ctx = clients_.emplace_back(sanstls::Protocol::tls_client);
    ctx.load_verify_locations({.cadata = trust});
    ctx.set_minimum_version(kind.version);
    ctx.set_maximum_version(kind.version);
    if (kind.client_certificate) {
      ctx.load_cert_chain_pem(client_cert.certificate_pem, client_cert.private_key_pem);
    }
    // Without the ticket extension a TLS 1.2 server assigns a session ID and
    // caches the session: the only way into the server's cache.
    if (kind.resumption == Resumption::session_id) {
      ctx.set_options(ctx.options() | sanstls::Options::no_ticket);
    }
    pools_.emplace_back(static_cast<std::size_t>(options.pool));
  }
}

void Soak::rotate_ticket_keys() {
  keys_[1] = keys_[0];
  keys_[0] = sanstls::TicketKey::generate();
  server_.set_ticket_keys(keys_);
  ++key_generation_;
  ++counts_.key_rotations;
}

bool Soak::steady() const {
  return cache_inserts_ >= options_.cache_size &&
         std::all_of(pools_.begin(), pools_.end(), [](const Pool& p) { return p.full(); });
}

// expected applies the server's rules (see the file comment) to |offered|.
Outcome Soak::expected(const ClientKind& kind, const Saved& offered, bool* previous_key) const {
  *previous_key = false;
  if (kind.resumption == Resumption::ticket) {
    const std::uint64_t age = key_generation_ - offered.key_generation;
    if (age > 1) return Outcome::fallback_rotated_out;
    *previous_key = age == 1;
    return Outcome::resumed;
  }
  // Still cached while fewer than cache_size sessions came after it.
  if (offered.cache_insert + options_.cache_size < cache_inserts_) return Outcome::fallback_evicted;
  return Outcome::resumed;
}

void Soak::check_server_stats(std::uint64_t i) {
  const sanstls::SessionStats s = server_.session_stats();
  cache_max_ = std::max(cache_max_, s.number);
  const std::uint64_t cached = std::min(cache_inserts_, options_.cache_size);
  const std::uint64_t evicted = cache_inserts_ - cached;
  const std::uint64_t misses = counts_.fallback_rotated_out + counts_.fallback_evicted;
  auto fail = [&](const std::string& what) {
    throw Failure("after handshake " + std::to_string(i) + ": " + what);
  };
  if (s.number > options_.cache_size) {
    fail("session cache bound broken: " + std::to_string(s.number) + " sessions cached, limit " +
         std::to_string(options_.cache_size));
  }
  if (s.number != cached || s.cache_full != evicted) {
    fail("session cache holds " + std::to_string(s.number) + " sessions and evicted " +
         std::to_string(s.cache_full) + ", the model says " + std::to_string(cached) + " and " +
         std::to_string(evicted) + " (" + std::to_string(cache_inserts_) + " sessions added)");
  }
  if (s.hits != counts_.resumed || s.misses != misses || s.timeouts != 0 ||
      s.accept_good != counts_.handshakes) {
    fail("server session_stats() disagree with the handshakes seen: hits " + std::to_string(s.hits) +
         " (resumed " + std::to_string(counts_.resumed) + "), misses " + std::to_string(s.misses) +
         " (fallbacks " + std::to_string(misses) + "), timeouts " + std::to_string(s.timeouts) +
         ", accept_good " + std::to_string(s.accept_good) + " (handshakes " +
         std::to_string(counts_.handshakes) + ")");
  }
}

void Soak::handshake(std::uint64_t i) {
  using sanstls::Status;
  using sanstls::testing::Side;
  const std::size_t k = static_cast<std::size_t>(i % kKinds.size());
  const ClientKind& kind = kKinds[k];
  Pool& pool = pools_[k];
  const bool resume = (i / kKinds.size()) % 2 == 1 && !pool.empty();

  std::optional<Saved> offered;
  Outcome expect = Outcome::full;
  bool previous_key = false;
  if (resume) {
    offered = pool.pick(splitmix64(i));
    expect = expected(kind, *offered, &previous_key);
  }
  const std::string what =
      "handshake " + std::to_string(i) + " (" + std::string(kind.name) +
      (offered ? ", offering the session of handshake " + std::to_string(offered->made_at) : "") + ")";
  auto fail = [&](const std::string& why) { throw Failure(what + ": " + why); };

  sanstls::Object client =
      offered ? clients_[k].wrap_bio({}, {}, false, "localhost", offered->session)
              : clients_[k].wrap_bio({}, {}, false, "localhost");
  sanstls::Object server = server_.wrap_bio({}, {}, true);
  sanstls::testing::Pipe pipe(client, server);
  if (!pipe.handshake()) {
    const std::shared_ptr<const sanstls::Error> e =
        client.error() ? client.error() : server.error();
    fail(std::string("did not complete: ") + (e ? e->message : "both sides stopped waiting"));
  }

  const bool reused = client.session_reused();
  if (server.session_reused() != reused) fail("client and server disagree on whether it resumed");
  if (reused != (expect == Outcome::resumed)) {
    fail("expected " + std::string(outcome_name(expect)) + ", got " +
         std::string(reused ? "a resumption" : "a full handshake"));
  }
  const std::string want_version =
      kind.version == sanstls::TLSVersion::tlsv1_3 ? "TLSv1.3" : "TLSv1.2";
  if (client.version() != want_version || server.version() != want_version) {
    fail("negotiated " + client.version().value_or("nothing") + ", not " + want_version);
  }
  // A resumed session carries the certificate of the handshake that made it.
  if (server.getpeercert(sanstls::binary_form).has_value() != kind.client_certificate) {
    fail(kind.client_certificate ? "the server saw no client certificate"
                                 : "the server saw a client certificate though none was sent");
  }

  const std::string ping = "ping " + std::to_string(i);
  if (!pipe.send(Side::client, ping).ok() || pipe.take_received(Side::server) != ping) {
    fail("the client's message did not arrive intact");
  }
  const std::string pong = "pong " + std::to_string(i);
  if (!pipe.send(Side::server, pong).ok() || pipe.take_received(Side::client) != pong) {
    fail("the server's message did not arrive intact");
  }

  // Both close: the client's close_notify first, then the server's answer.
  if (client.unwrap().status != Status::want_read) {
    fail("the client's unwrap did not wait for the server");
  }
  pipe.run();
  if (pipe.last(Side::server).status != Status::closed) fail("the server did not see close_notify");
  if (!server.unwrap().ok()) fail("the server's unwrap failed");
  pipe.run();
  if (!client.unwrap().ok()) fail("the client's unwrap did not complete");

  ++counts_.handshakes;
  if (kind.version == sanstls::TLSVersion::tlsv1_3) ++counts_.tls13;
  if (kind.client_certificate) ++counts_.client_certificates;
  switch (expect) {
    case Outcome::resumed:
      ++counts_.resumed;
      if (previous_key) ++counts_.resumed_previous_key;
      break;
    case Outcome::fallback_rotated_out: ++counts_.fallback_rotated_out; break;
    case Outcome::fallback_evicted: ++counts_.fallback_evicted; break;
    case Outcome::full: break;
  }
  if (!reused) {
    ++counts_.full;
    // The session of a full handshake joins the pool. A TLS 1.3 client
    // has it once it read the tickets, which the Pipe did.
    std::optional<sanstls::Session> session = client.session();
    if (!session || !session->is_resumable()) fail("the full handshake left no resumable session");
    if (session->has_ticket() != (kind.resumption == Resumption::ticket)) {
      fail(session->has_ticket() ? "got a ticket with tickets off" : "got no ticket");
    }
    Saved saved{*session, i, key_generation_, cache_inserts_};
    if (kind.resumption == Resumption::session_id) ++cache_inserts_;
    pool.add(std::move(saved));
  }
  check_server_stats(i);
}

// ---- The run ------------------------------------------------------------------

// Sample is one SAMPLE line's memory and cache figures.
struct Sample {
  std::uint64_t handshakes = 0;
  Memory memory;
  std::size_t cache = 0;
  bool measured = false;  // after warm-up
};

// run runs the soak of |o|, prints its lines, and returns the exit code.
int run(const Options& o) {
  std::printf("# soak: %" PRIu64 " handshakes, memory sampled every %" PRIu64
              ", %" PRIu64 " sessions kept per client kind, server session cache limit %" PRIu64
              ", ticket keys rotated every %" PRIu64 " handshakes (newest two accepted), warm-up %" PRIu64
              " samples and full pools and cache\n",
              o.handshakes, o.sample_every, o.pool, o.cache_size, o.rotate_every, o.warmup_samples);
  if constexpr (!kMemoryChecked) {
    std::printf(
        "# memory bound NOT checked in this build: %s replaces glibc's allocator, so mallinfo2 "
        "does not see the heap, and its shadow memory (and AddressSanitizer's quarantine of freed "
        "memory) makes RSS grow by design. Every other check runs.\n",
        kSanitizerAllocator);
  }
  std::fflush(stdout);

  Soak soak(o);
  std::vector<Sample> samples;
  bool measuring = false;
  const auto start = std::chrono::steady_clock::now();
  auto since_start = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  for (std::uint64_t i = 0; i < o.handshakes; ++i) {
    if (i != 0 && i % o.rotate_every == 0) soak.rotate_ticket_keys();
    soak.handshake(i);
    if ((i + 1) % o.sample_every != 0) continue;

    if (o.malloc_trim) ::malloc_trim(0);
    Sample s;
    s.handshakes = i + 1;
    s.memory = measure_memory();
    s.cache = soak.cache_size();
    measuring = measuring || (samples.size() >= o.warmup_samples && soak.steady());
    s.measured = measuring;
    samples.push_back(s);
    const Counts& c = soak.counts();
    const double elapsed = since_start();
    std::printf("SAMPLE handshakes=%" PRIu64 " phase=%s rss=%" PRIu64 " heap=%" PRIu64
                " cache=%zu full=%" PRIu64 " resumed=%" PRIu64 " fallback_rotated_out=%" PRIu64
                " fallback_evicted=%" PRIu64 " key_rotations=%" PRIu64
                " elapsed_s=%.1f handshakes_per_s=%.0f\n",
                s.handshakes, s.measured ? "measured" : "warmup", s.memory.rss, s.memory.heap, s.cache,
                c.full, c.resumed, c.fallback_rotated_out, c.fallback_evicted, c.key_rotations, elapsed,
                static_cast<double>(s.handshakes) / elapsed);
    std::fflush(stdout);
  }
  const double elapsed = since_start();
  const Counts& c = soak.counts();

  std::vector<std::string> broken;
  const auto first =
      std::find_if(samples.begin(), samples.end(), [](const Sample& s) { return s.measured; });
  const std::size_t measured = static_cast<std::size_t>(samples.end() - first);
  Memory mem_first, mem_last;
  if (measured > 0) {
    mem_first = first->memory;
    mem_last = samples.back().memory;
  }
  const double rss_growth = growth_pct(mem_first.rss, mem_last.rss);
  const double heap_growth = growth_pct(mem_first.heap, mem_last.heap);
  if (kMemoryChecked) {
    if (measured < 2) {
      broken.push_back("memory: only " + std::to_string(measured) +
                       " samples after warm-up, 2 needed (raise --handshakes, or lower --sample-every, "
                       "--pool or --cache-size)");
    } else {
      char text[160];
      if (rss_growth > o.max_growth_pct) {
        std::snprintf(text, sizeof text,
                      "RSS grew %.2f %% after warm-up (%" PRIu64 " -> %" PRIu64 " bytes), limit %.2f %%",
                      rss_growth, mem_first.rss, mem_last.rss, o.max_growth_pct);
        broken.push_back(text);
      }
      if (heap_growth > o.max_growth_pct) {
        std::snprintf(text, sizeof text,
                      "heap grew %.2f %% after warm-up (%" PRIu64 " -> %" PRIu64 " bytes), limit %.2f %%",
                      heap_growth, mem_first.heap, mem_last.heap, o.max_growth_pct);
        broken.push_back(text);
      }
    }
  }
  if (c.key_rotations == 0) {
    broken.push_back("ticket keys: never rotated (--rotate-every " + std::to_string(o.rotate_every) +
                     " is not below --handshakes)");
  }
  if (soak.cache_max() < o.cache_size) {
    broken.push_back("session cache: never filled (" + std::to_string(soak.cache_max()) + " of " +
                     std::to_string(o.cache_size) + "), so its bound was not tested: lower --cache-size");
  }

  std::printf("# %" PRIu64 " TLS 1.3, %" PRIu64 " TLS 1.2, %" PRIu64 " with a client certificate; %" PRIu64
              " resumptions under the previous ticket key; fallbacks: %" PRIu64
              " ticket key rotated out, %" PRIu64 " session evicted from the cache\n",
              c.tls13, c.handshakes - c.tls13, c.client_certificates, c.resumed_previous_key,
              c.fallback_rotated_out, c.fallback_evicted);
  if (c.fallback_rotated_out == 0 || c.fallback_evicted == 0) {
    std::printf("# note: a kind of fallback never happened; its prediction was not exercised\n");
  }
  std::printf("BENCH scenario=%s handshakes=%" PRIu64 " full=%" PRIu64 " resumed=%" PRIu64
              " handshakes_per_s=%.1f rss_first=%" PRIu64 " rss_last=%" PRIu64 " rss_growth_pct=%.2f"
              " heap_first=%" PRIu64 " heap_last=%" PRIu64 " heap_growth_pct=%.2f"
              " cache_max=%zu cache_limit=%" PRIu64
              " key_rotations=%" PRIu64 " fallback_rotated_out=%" PRIu64 " fallback_evicted=%" PRIu64
              " memory_checked=%s\n",
              scenario_name(o.handshakes).c_str(), c.handshakes, c.full, c.resumed,
              static_cast<double>(c.handshakes) / elapsed, mem_first.rss, mem_last.rss, rss_growth,
              mem_first.heap, mem_last.heap, heap_growth, soak.cache_max(), o.cache_size, c.key_rotations,
              c.fallback_rotated_out, c.fallback_evicted, kMemoryChecked ? "yes" : "no");
  std::fflush(stdout);
  for (const std::string& b : broken) std::fprintf(stderr, "sanstls-load soak: FAILED: %s\n", b.c_str());
  return broken.empty() ? 0 : 1;
}

}  // namespace

int run_soak(int argc, char** argv) {
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "sanstls-load soak: %s\n", e.what());
    print_usage(stderr);
    return 2;
  }
  if (options.help) {
    print_usage(stdout);
    return 0;
  }
  settle_defaults(options);
  try {
    return run(options);
  } catch (const Failure& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "sanstls-load soak: FAILED: %s\n", e.what());
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "sanstls-load soak: FAILED: unexpected exception: %s\n", e.what());
  }
  return 1;
}

}  // namespace sanstls_load
