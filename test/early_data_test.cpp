// TLS 1.3 early data (0-RTT) between two Objects: accepted, rejected for
// each reason BoringSSL has, replayed, over the limit, byte by byte; and
// nothing a client wrote is ever lost.
#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <string>

#include "support.hpp"

using sanstls::Context;
using sanstls::EarlyData;
using sanstls::Object;
using sanstls::Phase;
using sanstls::Result;
using sanstls::Session;
using sanstls::Status;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using sanstls::testing::Transport;

namespace {

// Contexts is a client and a server with early data on.
struct Contexts {
  Context client = test::client_context();
  Context server = test::server_context();
  Contexts() {
    client.set_early_data_enabled(true);
    server.set_early_data_enabled(true);
  }
};

// ticket runs a first connection and returns the client's session, which
// allows early data when the server's Context did.
Session ticket(const Context& client, const Context& server) {
  test::Pair p = test::make_pair(client, server);
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  REQUIRE(pipe.send(Side::server, "ticket").ok());  // the tickets come first
  std::optional<Session> session = p.client.session();
  REQUIRE(session);
  REQUIRE(session->is_resumable());
  return *session;
}

// read_all_early reads every early byte a server has.
std::string read_all_early(Object& server) {
  std::string out;
  std::array<std::byte, 1000> buffer{};
  for (;;) {
    Result r = server.read_early_data(buffer);
    if (r.status != Status::done) break;
    out.append(reinterpret_cast<const char*>(buffer.data()), r.bytes);
  }
  return out;
}

// flight moves what |from| wrote to |to|'s incoming.
void flight(const Object& from, const Object& to) {
  sanstls::MemoryBIO out = from.outgoing();  // a handle to the same buffer
  sanstls::MemoryBIO in = to.incoming();
  in.write(out.read());
}

// outgoing_bytes takes what |from| wrote.
std::string outgoing_bytes(const Object& from) {
  sanstls::MemoryBIO out = from.outgoing();
  return out.read();
}

}  // namespace

TEST_CASE("0-RTT accepted: the client's first flight carries data the server reads as early data",
          "[early_data]") {
  const int transport = GENERATE(0, 1, 2);
  Contexts c;
  const Session session = ticket(c.client, c.server);
  test::Pair p = test::make_pair(c.client, c.server);
  p.client.set_session(session);
  CHECK(p.client.early_data().status == EarlyData::Status::not_offered);
  Result w = p.client.write(std::string_view("GET / HTTP/1.1\r\n\r\n"));
  REQUIRE(w.status == Status::done);  // written before the server said anything
  CHECK(w.bytes == 18);
  CHECK(p.client.phase() == Phase::early_data);
  CHECK(p.client.early_data().status == EarlyData::Status::offered);
  CHECK_FALSE(p.client.is_handshake_complete());

  Pipe pipe(p.client, p.server,
            transport == 0   ? Transport::everything()
            : transport == 1 ? Transport::byte_at_a_time()
                             : Transport::random_chunks(9, 40));
  REQUIRE(pipe.handshake());
  CHECK(p.client.session_reused());
  CHECK(read_all_early(p.server) == "GET / HTTP/1.1\r\n\r\n");
  CHECK(pipe.received(Side::server).empty());  // read() never returns early data
  const EarlyData server_view = p.server.early_data();
  const EarlyData client_view = p.client.early_data();
  CHECK(server_view.status == EarlyData::Status::accepted);
  CHECK(server_view.reason == "accepted");
  CHECK(client_view.status == EarlyData::Status::accepted);
  CHECK(client_view.reason == "accepted");
  // After the handshake: ordinary data both ways, and no more early data.
  REQUIRE(pipe.send(Side::client, "after").ok());
  CHECK(pipe.take_received(Side::server) == "after");
  std::array<std::byte, 10> buffer{};
  CHECK(p.server.read_early_data(buffer).status == Status::closed);
}

TEST_CASE("0-RTT: the server sees early data before the client's Finished arrives", "[early_data]") {
  Contexts c;
  const Session session = ticket(c.client, c.server);
  test::Pair p = test::make_pair(c.client, c.server);
  p.client.set_session(session);
  REQUIRE(p.client.write(std::string_view("early")).ok());
  // Only the client's first flight reaches the server.
  flight(p.client, p.server);
  CHECK(p.server.do_handshake().status == Status::want_read);
  CHECK(p.server.phase() == Phase::early_data);
  std::array<std::byte, 100> buffer{};
  Result r = p.server.read_early_data(buffer);
  REQUIRE(r.status == Status::done);
  CHECK(std::string(reinterpret_cast<const char*>(buffer.data()), r.bytes) == "early");
  CHECK(p.server.read_early_data(buffer).status == Status::want_read);  // more may come
  // The server may answer before the handshake is done (0.5-RTT data).
  REQUIRE(p.server.write(std::string_view("half-rtt")).ok());
  Pipe pipe(p.client, p.server);
  REQUIRE(pipe.handshake());
  CHECK(pipe.received(Side::client) == "half-rtt");
  CHECK(p.server.read_early_data(buffer).status == Status::closed);
}

TEST_CASE("0-RTT rejected: the client is told, the handshake goes on, and the data sent again arrives",
          "[early_data]") {
  struct Case {
    const char* name;
    const char* server_reason;
    const char* client_reason;  // a client knows less: the server declined
  };
  const Case which = GENERATE(Case{"replayed ticket", "disabled", "peer_declined"},
                              Case{"server turned it off", "disabled", "peer_declined"},
                              Case{"hello retry", "hello_retry_request", "hello_retry_request"},
                              Case{"ALPN", "alpn_mismatch", "peer_declined"});
  INFO(which.name);
  Contexts c;
  c.client.set_alpn_protocols({"h2", "http/1.1"});
  c.server.set_alpn_protocols({"h2", "http/1.1"});
  const Session session = ticket(c.client, c.server);
  Context client = c.client;
  if (std::string(which.name) == "replayed ticket") {
    // The ticket's early data is used once.
    test::Pair first = test::make_pair(c.client, c.server);
    first.client.set_session(session);
    REQUIRE(first.client.write(std::string_view("once")).ok());
    Pipe pipe(first.client, first.server);
    REQUIRE(pipe.handshake());
    REQUIRE(first.client.early_data().status == EarlyData::Status::accepted);
  } else if (std::string(which.name) == "server turned it off") {
    c.server.set_early_data_enabled(false);
  } else if (std::string(which.name) == "hello retry") {
    c.server.set_ecdh_curve("prime256v1");  // not the client's X25519 key share
  } else {
    // The session's protocol was h2; the server would now choose another.
    c.server.set_alpn_protocols({"http/1.1"});
  }
  test::Pair p = test::make_pair(client, c.server);
  p.client.set_session(session);
  REQUIRE(p.client.write(std::string_view("GET /once")).ok());
  Pipe pipe(p.client, p.server);
  pipe.run();
  // The Pipe saw the rejection on its way (do_handshake() returned it once)
  // and drove the handshake on to the end.
  REQUIRE(p.client.is_handshake_complete());
  REQUIRE(p.server.is_handshake_complete());
  const EarlyData client_view = p.client.early_data();
  CHECK(client_view.status == EarlyData::Status::rejected);
  CHECK(client_view.reason == which.client_reason);
  CHECK(p.server.early_data().status == EarlyData::Status::rejected);
  CHECK(p.server.early_data().reason == which.server_reason);
  CHECK(read_all_early(p.server).empty());
  CHECK(pipe.received(Side::server).empty());
  // Sent again, as 1-RTT data.
  REQUIRE(pipe.send(Side::client, "GET /once").ok());
  CHECK(pipe.take_received(Side::server) == "GET /once");
}

TEST_CASE("0-RTT rejected: do_handshake reports it once, and throw_if_error says what to do", "[early_data]") {
  Contexts c;
  const Session session = ticket(c.client, c.server);
  c.server.set_early_data_enabled(false);
  test::Pair p = test::make_pair(c.client, c.server);
  p.client.set_session(session);
  REQUIRE(p.client.write(std::string_view("lost")).ok());
  flight(p.client, p.server);
  CHECK(p.server.do_handshake().status == Status::want_read);
  flight(p.server, p.client);
  Result r = p.client.do_handshake();
  REQUIRE(r.status == Status::early_data_rejected);
  try {
    r.throw_if_error();
    FAIL("no exception");
  } catch (const sanstls::SSLEarlyDataRejectedError& e) {
    CHECK(std::string(e.what()) == "The server rejected the early data: write it again once the handshake is done");
  }
  CHECK(p.client.do_handshake().status == Status::done);  // the handshake goes on
}

TEST_CASE("0-RTT offered but nothing written: a rejection is not reported, since nothing was lost",
          "[early_data]") {
  Contexts c;
  const Session session = ticket(c.client, c.server);
  c.server.set_early_data_enabled(false);
  test::Pair p = test::make_pair(c.client, c.server);
  p.client.set_session(session);
  REQUIRE(p.client.do_handshake().status == Status::want_read);
  CHECK(p.client.early_data().status == EarlyData::Status::offered);
  flight(p.client, p.server);
  CHECK(p.server.do_handshake().status == Status::want_read);
  flight(p.server, p.client);
  CHECK(p.client.do_handshake().status == Status::done);
  CHECK(p.client.early_data().status == EarlyData::Status::rejected);
}

TEST_CASE("0-RTT replayed: a copied first flight resumes, but its early data is refused (unless single use is off)",
          "[early_data]") {
  const bool single_use = GENERATE(true, false);
  Contexts c;
  c.server.set_early_data_single_use(single_use);
  CHECK(c.server.early_data_single_use() == single_use);
  const Session session = ticket(c.client, c.server);
  test::Pair p = test::make_pair(c.client, c.server);
  p.client.set_session(session);
  REQUIRE(p.client.write(std::string_view("transfer 100")).ok());
  const std::string first_flight = outgoing_bytes(p.client);
  // The genuine server, then an attacker's replay to another connection.
  for (int copy = 0; copy < 2; ++copy) {
    sanstls::MemoryBIO in;
    Object server = c.server.wrap_bio(in, {}, true);
    in.write(first_flight);
    CHECK(server.do_handshake().status == Status::want_read);
    const std::string early = read_all_early(server);
    if (copy == 0 || !single_use) {
      CHECK(early == "transfer 100");
      CHECK(server.early_data().status == EarlyData::Status::accepted);
    } else {
      CHECK(early.empty());
      CHECK(server.early_data().status == EarlyData::Status::rejected);
      CHECK(server.early_data().reason == "disabled");
    }
  }
}

TEST_CASE("0-RTT past the limit: the rest waits for the handshake and nothing is lost", "[early_data]") {
  Contexts c;
  const Session session = ticket(c.client, c.server);
  test::Pair p = test::make_pair(c.client, c.server);
  p.client.set_session(session);
  const std::string payload = test::pattern(20000, 3);
  Result w = p.client.write(payload);
  CHECK(w.status == Status::want_read);  // 14,336 bytes went early; the rest needs the handshake
  Pipe pipe(p.client, p.server);
  pipe.run();
  w = p.client.write(payload);  // the same call again, as after any want_read
  REQUIRE(w.status == Status::done);
  pipe.run();
  const std::string early = read_all_early(p.server);
  CHECK(early.size() == 14336);
  CHECK((early + pipe.received(Side::server) == payload));
}

TEST_CASE("early data is off unless both sides turn it on", "[early_data]") {
  Context client = test::client_context();
  Context server = test::server_context();
  CHECK_FALSE(client.early_data_enabled());
  server.set_early_data_enabled(true);
  const Session session = ticket(client, server);
  test::Pair p = test::make_pair(client, server);
  p.client.set_session(session);
  Result w = p.client.write(std::string_view("not early"));
  CHECK(w.status == Status::want_read);  // the handshake comes first
  CHECK(p.client.phase() == Phase::handshaking);
  Pipe pipe(p.client, p.server);
  pipe.run();
  REQUIRE(p.client.write(std::string_view("not early")).ok());
  pipe.run();
  CHECK(pipe.received(Side::server) == "not early");
  CHECK(p.client.early_data().status == EarlyData::Status::not_offered);
  CHECK(p.server.early_data().status == EarlyData::Status::not_offered);
}
