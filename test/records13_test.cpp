// sanstls's own TLS 1.3 record layer (lib/core/records13.*): an
// established TLS 1.3 connection seals and opens its records itself.
// Checked against BoringSSL's record layer, which a Context with a message
// callback keeps, and against records forged under a client's keys
// (test/hostile/records.hpp) for everything a peer may send wrong.
#include <catch2/catch.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sanstls/boringssl.hpp>

#include "hostile/records.hpp"
#include "support.hpp"

namespace {

using sanstls::Context;
using sanstls::MessageInfo;
using sanstls::Object;
using sanstls::Result;
using sanstls::Status;

// move delivers everything |from| has written to |to|.
void move(const Object& from, const Object& to) {
  sanstls::MemoryBIO out = from.outgoing();
  sanstls::MemoryBIO in = to.incoming();
  in.write(out.read());
}

void deliver(const Object& to, const std::string& bytes) {
  sanstls::MemoryBIO in = to.incoming();
  in.write(bytes);
}

// Read is what read_all got: the bytes, and the Result that ended it.
struct Read {
  std::string data;
  Result last;
};

Read read_all(Object& o) {
  Read r;
  std::vector<std::byte> buffer(sanstls::max_read_size);
  for (;;) {
    r.last = o.read_into(buffer);
    if (r.last.status != Status::done) return r;
    r.data.append(reinterpret_cast<const char*>(buffer.data()), r.last.bytes);
  }
}

void handshake(test::Pair& p) {
  sanstls::testing::Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
}

// own_layer says whether |o| has handed its records over: BoringSSL's own
// record layer is then shut, both ways.
bool own_layer(const Object& o) {
  return SSL_get_shutdown(sanstls::native_handle(o)) == (SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN) &&
         o.phase() == sanstls::Phase::established;
}

// traced is a context whose connections keep BoringSSL's record layer (a
// message callback sees every record); |seen| collects the post-handshake
// handshake messages it received.
Context traced(Context context, std::vector<int>* seen) {
  context.set_msg_callback([seen](const MessageInfo& m) {
    if (!m.sent && m.content_type == sanstls::ContentType::handshake && seen != nullptr) {
      seen->push_back(m.msg_type);
    }
  });
  return context;
}

void require_error(const Result& r, const std::string& reason) {
  INFO(test::describe(r));
  REQUIRE(r.status == Status::error);
  REQUIRE(r.error != nullptr);
  CHECK(r.error->reason == reason);
}

}  // namespace

TEST_CASE("an established TLS 1.3 connection seals its own records; TLS 1.2 keeps BoringSSL's", "[records13]") {
  SECTION("TLS 1.3") {
    test::Pair p = test::make_pair(test::client_context(), test::server_context());
    handshake(p);
    CHECK(p.client.version() == "TLSv1.3");
    REQUIRE(p.client.write(std::string_view("ping")).status == Status::done);
    move(p.client, p.server);
    CHECK(read_all(p.server).data == "ping");
    CHECK(own_layer(p.client));
    CHECK(own_layer(p.server));
    // The native handle's record layer is shut, so a stray SSL_write cannot
    // put a record under stale keys on the wire.
    const std::size_t before = p.client.outgoing().pending();
    CHECK(SSL_write(sanstls::native_handle(p.client), "x", 1) <= 0);
    ERR_clear_error();
    CHECK(p.client.outgoing().pending() == before);
  }
  SECTION("TLS 1.2") {
    Context client = test::client_context();
    client.set_maximum_version(sanstls::TLSVersion::tlsv1_2);
    test::Pair p = test::make_pair(client, test::server_context());
    handshake(p);
    REQUIRE(p.client.write(std::string_view("ping")).status == Status::done);
    move(p.client, p.server);
    CHECK(read_all(p.server).data == "ping");
    CHECK(SSL_get_shutdown(sanstls::native_handle(p.server)) == 0);
  }
  SECTION("a message callback keeps BoringSSL's, which reports every record") {
    std::vector<int> seen;
    test::Pair p = test::make_pair(traced(test::client_context(), &seen), test::server_context());
    handshake(p);
    REQUIRE(p.server.write(std::string_view("pong")).status == Status::done);
    move(p.server, p.client);
    CHECK(read_all(p.client).data == "pong");
    CHECK(SSL_get_shutdown(sanstls::native_handle(p.client)) == 0);
    CHECK(own_layer(p.server));
    // The two tickets arrived after the handshake, through BoringSSL.
    CHECK(std::count(seen.begin(), seen.end(), SSL3_MT_NEW_SESSION_TICKET) == 2);
  }
}

TEST_CASE("records of every size arrive whole, at most 16 KiB of plaintext each", "[records13]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  handshake(p);
  for (std::size_t size : {1u, 100u, 16383u, 16384u, 16385u, 50000u}) {
    const std::string data = test::pattern(size, static_cast<unsigned>(size));
    REQUIRE(p.client.write(data).status == Status::done);
    // Each record on the wire: application_data, 0x0303, at most 16,384
    // bytes plus the inner type and the 16-byte tag.
    const std::string wire(reinterpret_cast<const char*>(p.client.outgoing().readable().data()),
                           p.client.outgoing().pending());
    std::size_t records = 0;
    for (std::size_t at = 0; at < wire.size(); ++records) {
      REQUIRE(wire.size() - at >= 5);
      CHECK(static_cast<std::uint8_t>(wire[at]) == 23);
      CHECK(static_cast<std::uint8_t>(wire[at + 1]) == 3);
      CHECK(static_cast<std::uint8_t>(wire[at + 2]) == 3);
      const std::size_t length = static_cast<std::uint8_t>(wire[at + 3]) << 8 | static_cast<std::uint8_t>(wire[at + 4]);
      CHECK(length <= 16384 + 1 + 16);
      at += 5 + length;
    }
    CHECK(records == (size + 16383) / 16384);
    move(p.client, p.server);
    CHECK(read_all(p.server).data == data);
    // And back, read a few bytes at a time: the rest waits in pending().
    REQUIRE(p.server.write(data).status == Status::done);
    move(p.server, p.client);
    std::string back;
    std::array<std::byte, 7> small{};
    for (;;) {
      Result r = p.client.read_into(small);
      if (r.status != Status::done) break;
      back.append(reinterpret_cast<const char*>(small.data()), r.bytes);
      const std::size_t record_end = std::min(((back.size() - 1) / 16384 + 1) * 16384, size);
      CHECK(p.client.pending() == record_end - back.size());
    }
    CHECK(back == data);
    CHECK(p.client.pending() == 0);
  }
}

TEST_CASE("KeyUpdate and close_notify, against BoringSSL's record layer both ways", "[records13]") {
  const bool own_client = GENERATE(true, false);
  std::vector<int> seen;
  Context client = own_client ? test::client_context() : traced(test::client_context(), &seen);
  Context server = own_client ? traced(test::server_context(), &seen) : test::server_context();
  test::Pair p = test::make_pair(client, server);
  handshake(p);
  Object& own = own_client ? p.client : p.server;
  Object& theirs = own_client ? p.server : p.client;
  // Settle the tickets first, so that `seen` holds KeyUpdates only.
  REQUIRE(p.server.write(std::string_view("t")).status == Status::done);
  move(p.server, p.client);
  REQUIRE(read_all(p.client).data == "t");
  REQUIRE(own_layer(own));
  seen.clear();

  std::string sent_own, sent_theirs, got_own, got_theirs;
  for (int round = 0; round < 40; ++round) {
    const bool request = round % 3 == 0;
    if (round % 2 == 0) {
      REQUIRE(own.key_update(request).status == Status::done);
    } else {
      REQUIRE(theirs.key_update(request).status == Status::done);
    }
    const std::string a = "own " + std::to_string(round);
    const std::string b = "theirs " + std::to_string(round);
    REQUIRE(own.write(a).status == Status::done);
    REQUIRE(theirs.write(b).status == Status::done);
    sent_own += a;
    sent_theirs += b;
    move(own, theirs);
    move(theirs, own);
    // A requested update is answered by the reader, under its old key.
    Read at_own = read_all(own);
    Read at_theirs = read_all(theirs);
    REQUIRE(at_own.last.status == Status::want_read);
    REQUIRE(at_theirs.last.status == Status::want_read);
    got_own += at_own.data;
    got_theirs += at_theirs.data;
    move(own, theirs);
    move(theirs, own);
  }
  got_own += read_all(own).data;
  got_theirs += read_all(theirs).data;
  CHECK(got_own == sent_theirs);
  CHECK(got_theirs == sent_own);
  // BoringSSL received our 20 KeyUpdates, plus answers to its 7 requests.
  CHECK(std::count(seen.begin(), seen.end(), SSL3_MT_KEY_UPDATE) == 20 + 7);

  // close_notify: ours first, then theirs.
  Result r = own.unwrap();
  CHECK(r.status == Status::want_read);
  CHECK(own.phase() == sanstls::Phase::closing);
  move(own, theirs);
  CHECK(read_all(theirs).last.status == Status::closed);
  CHECK(theirs.unwrap().status == Status::done);
  move(theirs, own);
  CHECK(own.unwrap().status == Status::done);
  CHECK(own.phase() == sanstls::Phase::closed);
  require_error(own.write(std::string_view("late")), "");
  CHECK(own.write(std::string_view("late")).error->kind == sanstls::ErrorKind::zero_return);
}

TEST_CASE("application data before the peer's close_notify fails unwrap() once and stays readable",
          "[records13]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  handshake(p);
  CHECK(p.client.unwrap().status == Status::want_read);
  REQUIRE(p.server.write(std::string_view("last words")).status == Status::done);
  move(p.server, p.client);
  require_error(p.client.unwrap(), "APPLICATION_DATA_ON_SHUTDOWN");
  CHECK(p.client.error() == nullptr);  // not sticky
  CHECK(p.client.pending() > 0);
  std::array<std::byte, 64> buffer{};
  Result r = p.client.read_into(buffer);
  REQUIRE(r.status == Status::done);
  CHECK(std::string(reinterpret_cast<const char*>(buffer.data()), r.bytes).find("last words") != std::string::npos);
  CHECK(p.client.unwrap().status == Status::want_read);
  move(p.client, p.server);
  CHECK(read_all(p.server).last.status == Status::closed);
  REQUIRE(p.server.unwrap().status == Status::done);
  move(p.server, p.client);
  CHECK(p.client.unwrap().status == Status::done);
}

TEST_CASE("tickets read by the own record layer resume", "[records13]") {
  Context client = test::client_context();
  Context server = test::server_context();
  test::Pair p = test::make_pair(client, server);
  handshake(p);
  REQUIRE(own_layer(p.client));
  REQUIRE(p.server.write(std::string_view("x")).status == Status::done);
  move(p.server, p.client);
  REQUIRE(read_all(p.client).data == "x");
  std::optional<sanstls::Session> session = p.client.session();
  REQUIRE(session);
  REQUIRE(session->is_resumable());
  test::Pair again = test::make_pair(client, server);
  again.client.set_session(*session);
  handshake(again);
  CHECK(again.client.session_reused());
}

TEST_CASE("key_update() needs an established TLS 1.3 connection", "[records13]") {
  test::Pair fresh = test::make_pair(test::client_context(), test::server_context());
  require_error(fresh.client.key_update(), "HANDSHAKE_NOT_COMPLETE");
  Context tls12 = test::client_context();
  tls12.set_maximum_version(sanstls::TLSVersion::tlsv1_2);
  test::Pair p = test::make_pair(tls12, test::server_context());
  handshake(p);
  require_error(p.client.key_update(), "WRONG_SSL_VERSION");
  CHECK(p.client.error() == nullptr);
  test::Pair q = test::make_pair(test::client_context(), test::server_context());
  handshake(q);
  (void)q.client.unwrap();
  require_error(q.client.key_update(), "PROTOCOL_IS_SHUTDOWN");
}

// A hostile peer's records, forged under the client's keys, against a
// server on the own record layer: the reason, and the alert the client
// then reads (empty when none is sent).
TEST_CASE("what a peer sends wrong ends the connection as BoringSSL's record layer would", "[records13]") {
  struct Case {
    const char* name;
    std::string (*forge)(hostile::RecordForger&);
    const char* reason;
    const char* alert;  // the reason the client reads from the server's alert
  };
  using hostile::RecordForger;
  static const Case cases[] = {
      {"a flipped bit", [](RecordForger& f) { std::string r = f.seal(hostile::application_data, "data"); r[7] ^= 1; return r; },
       "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "SSLV3_ALERT_BAD_RECORD_MAC"},
      {"a record version other than 0x0303",
       [](RecordForger& f) { std::string r = f.seal(hostile::application_data, "data"); r[2] = 1; return r; },
       "WRONG_VERSION_NUMBER", "TLSV1_ALERT_PROTOCOL_VERSION"},
      {"a length past 2^14 + 2048", [](RecordForger&) { return hostile::header(hostile::application_data, 18433); },
       "ENCRYPTED_LENGTH_TOO_LONG", "TLSV1_ALERT_RECORD_OVERFLOW"},
      {"plaintext past 2^14", [](RecordForger& f) { return f.seal(hostile::application_data, std::string(16385, 'a')); },
       "DATA_LENGTH_TOO_LONG", "TLSV1_ALERT_RECORD_OVERFLOW"},
      {"an outer type other than application_data",
       [](RecordForger& f) { std::string r = f.seal(hostile::application_data, "data"); r[0] = hostile::handshake; return r; },
       "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "SSLV3_ALERT_BAD_RECORD_MAC"},
      {"padding only", [](RecordForger& f) { return f.seal(0, std::string(5, '\0')); },
       "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "TLSV1_ALERT_DECRYPT_ERROR"},
      {"33 empty records", [](RecordForger& f) {
         std::string out;
         for (int i = 0; i < 33; ++i) out += f.seal(hostile::application_data, "");
         return out;
       }, "TOO_MANY_EMPTY_FRAGMENTS", "SSLV3_ALERT_UNEXPECTED_MESSAGE"},
      {"33 KeyUpdates", [](RecordForger& f) {
         std::string out;
         for (int i = 0; i < 33; ++i) out += f.key_update();
         return out;
       }, "TOO_MANY_KEY_UPDATES", "SSLV3_ALERT_UNEXPECTED_MESSAGE"},
      {"5 user_canceled warnings", [](RecordForger& f) {
         std::string out;
         for (int i = 0; i < 5; ++i) out += f.seal(hostile::alert, hostile::alert_body(hostile::warning, hostile::user_canceled));
         return out;
       }, "TOO_MANY_WARNING_ALERTS", "SSLV3_ALERT_UNEXPECTED_MESSAGE"},
      {"a warning alert other than user_canceled",
       [](RecordForger& f) { return f.seal(hostile::alert, hostile::alert_body(hostile::warning, 42)); },
       "BAD_ALERT", "TLSV1_ALERT_DECODE_ERROR"},
      {"an alert of three bytes", [](RecordForger& f) { return f.seal(hostile::alert, std::string_view("\x01\x00\x00", 3)); },
       "BAD_ALERT", "TLSV1_ALERT_DECODE_ERROR"},
      {"an alert of level 3", [](RecordForger& f) { return f.seal(hostile::alert, hostile::alert_body(3, 0)); },
       "UNKNOWN_ALERT_TYPE", "SSLV3_ALERT_ILLEGAL_PARAMETER"},
      {"a fatal alert", [](RecordForger& f) { return f.seal(hostile::alert, hostile::alert_body(hostile::fatal, 80)); },
       "TLSV1_ALERT_INTERNAL_ERROR", ""},
      {"an inner ChangeCipherSpec", [](RecordForger& f) { return f.seal(hostile::change_cipher_spec, "\x01"); },
       "UNEXPECTED_RECORD", "SSLV3_ALERT_UNEXPECTED_MESSAGE"},
      {"a NewSessionTicket to a server",
       [](RecordForger& f) { return f.seal(hostile::handshake, hostile::handshake_message(4, std::string(20, '\0'))); },
       "UNEXPECTED_MESSAGE", "SSLV3_ALERT_UNEXPECTED_MESSAGE"},
      {"the start of a message longer than a server takes",
       [](RecordForger& f) { return f.seal(hostile::handshake, std::string_view("\x18\x00\x00\x02", 4)); },
       "EXCESSIVE_MESSAGE_SIZE", "SSLV3_ALERT_ILLEGAL_PARAMETER"},
      {"a one-byte message a server does not take",
       [](RecordForger& f) { return f.seal(hostile::handshake, hostile::handshake_message(4, std::string_view("\x00", 1))); },
       "UNEXPECTED_MESSAGE", "SSLV3_ALERT_UNEXPECTED_MESSAGE"},
      {"a KeyUpdate of two bytes",
       [](RecordForger& f) { return f.seal(hostile::handshake, hostile::handshake_message(hostile::key_update_type, std::string_view("\x00\x00", 2))); },
       "DECODE_ERROR", "TLSV1_ALERT_DECODE_ERROR"},
      {"a KeyUpdate asking for 2",
       [](RecordForger& f) { return f.seal(hostile::handshake, hostile::handshake_message(hostile::key_update_type, "\x02")); },
       "DECODE_ERROR", "TLSV1_ALERT_DECODE_ERROR"},
      {"application data inside a split message",
       [](RecordForger& f) {
         std::string out = f.seal(hostile::handshake, std::string_view("\x18\x00", 2));
         return out + f.seal(hostile::application_data, "data");
       },
       "UNEXPECTED_RECORD", "SSLV3_ALERT_UNEXPECTED_MESSAGE"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      // The client keeps BoringSSL's layer, so its keys are the forger's.
      test::Pair p = test::make_pair(traced(test::client_context(), nullptr), test::server_context());
      handshake(p);
      REQUIRE(p.server.write(std::string_view("t")).status == Status::done);
      move(p.server, p.client);
      REQUIRE(read_all(p.client).data == "t");
      REQUIRE(own_layer(p.server));
      RecordForger forger(p.client);
      // An honest forged record first: the server takes it.
      deliver(p.server, forger.seal(hostile::application_data, "honest"));
      REQUIRE(read_all(p.server).data == "honest");
      deliver(p.server, c.forge(forger));
      Read got = read_all(p.server);
      CHECK(got.data.empty());
      require_error(got.last, c.reason);
      CHECK(p.server.phase() == sanstls::Phase::failed);
      // The error is sticky, and the alert is the only thing sent.
      require_error(p.server.read_into(std::span<std::byte>()), c.reason);
      move(p.server, p.client);
      Read alert = read_all(p.client);
      if (std::string(c.alert).empty()) {
        CHECK(alert.last.status == Status::want_read);
      } else {
        require_error(alert.last, c.alert);
      }
    }
  }
}

TEST_CASE("32 empty records, 32 KeyUpdates and 4 user_canceled warnings are within the limits", "[records13]") {
  test::Pair p = test::make_pair(traced(test::client_context(), nullptr), test::server_context());
  handshake(p);
  REQUIRE(p.server.write(std::string_view("t")).status == Status::done);
  move(p.server, p.client);
  REQUIRE(read_all(p.client).data == "t");
  hostile::RecordForger forger(p.client);
  std::string flight;
  for (int i = 0; i < 32; ++i) flight += forger.seal(hostile::application_data, "");
  flight += forger.seal(hostile::application_data, "a");
  for (int i = 0; i < 32; ++i) flight += forger.key_update();
  flight += forger.seal(hostile::application_data, "b");
  for (int i = 0; i < 4; ++i) flight += forger.seal(hostile::alert, hostile::alert_body(hostile::warning, hostile::user_canceled));
  flight += forger.seal(hostile::application_data, "c");
  // A message split over three records is put back together.
  flight += forger.seal(hostile::handshake, "\x18");
  flight += forger.seal(hostile::handshake, std::string_view("\x00\x00", 2));
  flight += forger.seal(hostile::handshake, std::string_view("\x01\x00", 2));
  deliver(p.server, flight);
  Read got = read_all(p.server);
  CHECK(got.data == "abc");
  CHECK(got.last.status == Status::want_read);
  CHECK(p.server.error() == nullptr);
}

TEST_CASE("a stream cut inside a record is an EOF error, at a record boundary too", "[records13]") {
  const std::size_t keep = GENERATE(0u, 3u, 5u, 20u);
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  handshake(p);
  REQUIRE(p.client.write(std::string_view("whole")).status == Status::done);
  move(p.client, p.server);
  REQUIRE(read_all(p.server).data == "whole");
  REQUIRE(p.client.write(std::string_view("cut short")).status == Status::done);
  sanstls::MemoryBIO out = p.client.outgoing();
  std::string record = out.read();
  deliver(p.server, record.substr(0, keep));
  CHECK(read_all(p.server).last.status == Status::want_read);
  sanstls::MemoryBIO in = p.server.incoming();
  in.write_eof();
  Result r = read_all(p.server).last;
  REQUIRE(r.status == Status::error);
  CHECK(r.error->kind == sanstls::ErrorKind::eof);
}
