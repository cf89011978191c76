// Session resumption (Python's SSLSession): TLS 1.3 tickets, TLS 1.2
// tickets and session IDs, serialisation, and the misuse Python refuses.
#include <catch.hpp>

#include <ctime>
#include <stdexcept>
#include <string>

#include "support.hpp"

using sanstls::Context;
using sanstls::Object;
using sanstls::Session;
using sanstls::Status;
using sanstls::TLSVersion;
using sanstls::testing::Pipe;

namespace {

struct Contexts {
  Context client;
  Context server;
};

Contexts contexts(TLSVersion version) {
  Contexts c{test::client_context(), test::server_context()};
  c.client.set_maximum_version(version);
  c.client.set_minimum_version(version);
  return c;
}

// connect runs a handshake in which the client offers |offer|, then lets
// the client read what the server sent after it (its TLS 1.3 tickets).
struct Connection {
  Object client;
  Object server;
};
Connection connect(const Contexts& c, std::optional<Session> offer = std::nullopt) {
  sanstls::MemoryBIO ci, co, si, so;
  Connection conn{c.client.wrap_bio(ci, co, false, "localhost", std::move(offer)),
                  c.server.wrap_bio(si, so, true)};
  Pipe pipe(conn.client, conn.server);
  REQUIRE(pipe.handshake());
  return conn;
}

std::string version_name(TLSVersion v) { return v == TLSVersion::tlsv1_3 ? "TLSv1.3" : "TLSv1.2"; }

}  // namespace

TEST_CASE("a client resumes the session of its previous connection", "[session]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_3, TLSVersion::tlsv1_2);
  INFO(version_name(version));
  Contexts c = contexts(version);

  Connection first = connect(c);
  CHECK(first.client.version() == version_name(version));
  CHECK_FALSE(first.client.session_reused());
  std::optional<Session> session = first.client.session();
  REQUIRE(session);
  CHECK(session->is_resumable());
  CHECK(session->has_ticket());  // BoringSSL servers issue tickets in both versions
  CHECK(session->id().size() == 32);
  CHECK(session->ticket_lifetime_hint() > 0);
  CHECK(session->timeout() > 0);
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  // BoringSSL reads gettimeofday(); time() may trail it by a tick.
  CHECK(session->time() <= now + 1);
  CHECK(session->time() > now - 600);
  CHECK(*first.client.session() == *session);  // equality by id, as in Python

  Connection second = connect(c, session);
  CHECK(second.client.session_reused());
  CHECK(second.server.session_reused());
  // Resumed connections still deliver data both ways.
  Pipe pipe(second.client, second.server);
  REQUIRE(pipe.send(sanstls::testing::Side::client, "ping").status == Status::done);
  CHECK(pipe.received(sanstls::testing::Side::server) == "ping");
}

TEST_CASE("a TLS 1.3 server sends its tickets with its handshake, even if it never writes",
          "[session][tls13]") {
  Contexts c = contexts(TLSVersion::tlsv1_3);
  sanstls::MemoryBIO ci, co, si, so;
  Object client = c.client.wrap_bio(ci, co, false, "localhost");
  Object server = c.server.wrap_bio(si, so, true);
  CHECK_FALSE(client.session());  // nothing before the handshake
  // Drive by hand: client hello, server flight, client finished.
  REQUIRE(client.do_handshake().status == Status::want_read);
  si.write(co.read());
  REQUIRE(server.do_handshake().status == Status::want_read);
  ci.write(so.read());
  REQUIRE(client.do_handshake().status == Status::done);
  std::optional<Session> before_tickets = client.session();
  REQUIRE(before_tickets);
  CHECK_FALSE(before_tickets->is_resumable());  // TLS 1.3: the handshake's own session
  si.write(co.read());
  REQUIRE(server.do_handshake().status == Status::done);
  CHECK(so.pending() > 0);  // the tickets, written by do_handshake itself
  ci.write(so.read());
  CHECK(client.read(1).status == Status::want_read);  // processes the tickets
  std::optional<Session> ticket = client.session();
  REQUIRE(ticket);
  CHECK(ticket->is_resumable());
  CHECK(ticket->has_ticket());
  CHECK_FALSE(*ticket == *before_tickets);
}

TEST_CASE("a TLS 1.2 server without tickets resumes from its session cache", "[session][tls12]") {
  Contexts c = contexts(TLSVersion::tlsv1_2);
  c.server.set_options(c.server.options() | sanstls::Options::no_ticket);
  Connection first = connect(c);
  std::optional<Session> session = first.client.session();
  REQUIRE(session);
  CHECK_FALSE(session->has_ticket());
  CHECK(session->ticket_lifetime_hint() == 0);
  CHECK(session->is_resumable());
  Connection second = connect(c, session);
  CHECK(second.client.session_reused());
  CHECK(second.client.session()->id() == session->id());  // the same session, as Python's test
}

TEST_CASE("a session offered twice never fails a handshake", "[session]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_3, TLSVersion::tlsv1_2);
  INFO(version_name(version));
  Contexts c = contexts(version);
  std::optional<Session> session = connect(c).client.session();
  REQUIRE(session);
  for (int i = 0; i < 3; ++i) {
    Connection again = connect(c, session);  // REQUIREs a completed handshake
    CHECK(again.client.session_reused() == again.server.session_reused());
  }
}

TEST_CASE("a session the server cannot resume gives a full handshake", "[session]") {
  Contexts c = contexts(TLSVersion::tlsv1_3);
  std::optional<Session> session = connect(c).client.session();
  REQUIRE(session);
  // A second server context has other ticket keys: the ticket means nothing
  // to it.
  Contexts other{c.client, test::server_context()};
  Connection conn = connect(other, session);
  CHECK_FALSE(conn.client.session_reused());
  CHECK_FALSE(conn.server.session_reused());
}

TEST_CASE("a session survives serialisation and resumes from the bytes", "[session]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_3, TLSVersion::tlsv1_2);
  INFO(version_name(version));
  Contexts c = contexts(version);
  std::optional<Session> session = connect(c).client.session();
  REQUIRE(session);
  const std::string blob = session->to_bytes();
  Session restored = Session::from_bytes(c.client, sanstls::as_bytes(blob));
  CHECK(restored == *session);
  CHECK(restored.has_ticket() == session->has_ticket());
  CHECK(restored.time() == session->time());
  Connection conn = connect(c, restored);
  CHECK(conn.client.session_reused());
}

TEST_CASE("bytes that are not a session are an SSLError", "[session][errors]") {
  Context ctx = test::client_context();
  const std::string garbage = GENERATE(std::string(), std::string("junk"), std::string(200, '\x30'));
  CHECK_THROWS_AS(Session::from_bytes(ctx, sanstls::as_bytes(garbage)), sanstls::SSLError);

  // A real session cut short is refused too.
  Contexts c = contexts(TLSVersion::tlsv1_3);
  std::string blob = connect(c).client.session()->to_bytes();
  blob.resize(blob.size() / 2);
  CHECK_THROWS_AS(Session::from_bytes(c.client, sanstls::as_bytes(blob)), sanstls::SSLError);
}

TEST_CASE("set_session refuses what Python refuses", "[session][errors]") {
  Contexts c = contexts(TLSVersion::tlsv1_3);
  Connection first = connect(c);
  Session session = *first.client.session();
  sanstls::MemoryBIO a, b;

  SECTION("a session of another context") {
    Context other = test::client_context();
    Object obj = other.wrap_bio(a, b, false, "localhost");
    try {
      obj.set_session(session);
      FAIL("set_session accepted another context's session");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) == "Session refers to a different SSLContext.");
    }
    CHECK_THROWS_AS(other.wrap_bio(a, b, false, "localhost", session), std::invalid_argument);
  }
  SECTION("a server") {
    Object server = c.server.wrap_bio(a, b, true);
    std::optional<Session> server_session = first.server.session();
    REQUIRE(server_session);  // a server may read its session, as in Python
    try {
      server.set_session(*server_session);
      FAIL("a server accepted a session");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) == "Cannot set session for server-side SSLSocket.");
    }
  }
  SECTION("after the handshake") {
    try {
      first.client.set_session(session);
      FAIL("set_session accepted a session after the handshake");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()) == "Cannot set session after handshake.");
    }
  }
  SECTION("once the handshake has started") {
    Object obj = c.client.wrap_bio(a, b, false, "localhost");
    REQUIRE(obj.do_handshake().status == Status::want_read);
    CHECK_THROWS_AS(obj.set_session(session), std::invalid_argument);
    // The connection is unharmed.
    CHECK(b.pending() > 0);
  }
}

TEST_CASE("a resumed session whose stored certificate has a name that is not text: getpeercert "
          "is an SSLError, the connection works", "[session][errors]") {
  // Found by the deep client_handshake fuzz target: its session bytes held
  // a peer certificate with an ENUMERATED issuer name. BoringSSL parses a
  // name value of any ASN.1 type; turning it into text for getpeercert()
  // fails (Python's OpenSSL refuses such a certificate outright: an
  // SSLError there too, see certificate_test).
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_3, TLSVersion::tlsv1_2);
  INFO(version_name(version));
  Contexts c = contexts(version);
  std::string blob = connect(c).client.session()->to_bytes();
  const std::string common_name_utf8("\x06\x03\x55\x04\x03\x0c", 6);
  const std::size_t at = blob.find(common_name_utf8);  // the stored certificate's issuer
  REQUIRE(at != std::string::npos);
  blob[at + 5] = '\x0a';  // UTF8String becomes ENUMERATED, same length
  Connection conn = connect(c, Session::from_bytes(c.client, sanstls::as_bytes(blob)));
  REQUIRE(conn.client.session_reused());
  CHECK_THROWS_AS(conn.client.getpeercert(), sanstls::SSLError);
  CHECK(conn.client.getpeercert(sanstls::binary_form).value_or("").find(common_name_utf8.substr(0, 5) + "\x0a") !=
        std::string::npos);
  CHECK_FALSE(conn.client.error());
  Pipe pipe(conn.client, conn.server);
  CHECK(pipe.send(sanstls::testing::Side::client, "after getpeercert").status == Status::done);
  CHECK(pipe.take_received(sanstls::testing::Side::server) == "after getpeercert");
}

TEST_CASE("a serialised session resumes from a fresh client context, as in another process",
          "[session]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_3, TLSVersion::tlsv1_2);
  INFO(version_name(version));
  Contexts c = contexts(version);
  const std::string blob = connect(c).client.session()->to_bytes();
  // Another process: a new client context, configured the same way.
  Contexts fresh{test::client_context(), c.server};
  fresh.client.set_maximum_version(version);
  Connection conn = connect(fresh, Session::from_bytes(fresh.client, sanstls::as_bytes(blob)));
  CHECK(conn.client.session_reused());
}

TEST_CASE("session_stats count handshakes, hits and misses on each side", "[session][stats]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_3, TLSVersion::tlsv1_2);
  INFO(version_name(version));
  Contexts c = contexts(version);
  CHECK(c.server.session_stats() == sanstls::SessionStats{});
  std::optional<Session> session = connect(c).client.session();
  connect(c, session);
  // A ticket from a server with other keys is offered, but cannot be used.
  Contexts other{c.client, test::server_context()};
  connect(other, session);

  sanstls::SessionStats client = c.client.session_stats();
  CHECK(client.connect == 3);
  CHECK(client.connect_good == 3);
  CHECK(client.accept == 0);
  CHECK(client.hits == 0);
  sanstls::SessionStats server = c.server.session_stats();
  CHECK(server.accept == 2);
  CHECK(server.accept_good == 2);
  CHECK(server.connect == 0);
  CHECK(server.hits == 1);
  CHECK(server.misses == 0);
  sanstls::SessionStats foreign = other.server.session_stats();
  CHECK(foreign.accept_good == 1);
  CHECK(foreign.hits == 0);
  CHECK(foreign.misses == 1);

  // A failed handshake starts but is not good.
  Contexts untrusting{Context(sanstls::Protocol::tls_client), c.server};
  sanstls::MemoryBIO ci, co, si, so;
  Object client_obj = untrusting.client.wrap_bio(ci, co, false, "localhost");
  Object server_obj = untrusting.server.wrap_bio(si, so, true);
  Pipe pipe(client_obj, server_obj);
  CHECK_FALSE(pipe.handshake());
  CHECK(untrusting.client.session_stats().connect == 1);
  CHECK(untrusting.client.session_stats().connect_good == 0);
  CHECK(c.server.session_stats().accept == 3);
  CHECK(c.server.session_stats().accept_good == 2);
}

TEST_CASE("a TLS 1.2 server's session cache is counted in session_stats().number",
          "[session][stats][tls12]") {
  Contexts c = contexts(TLSVersion::tlsv1_2);
  c.server.set_options(c.server.options() | sanstls::Options::no_ticket);
  CHECK(c.server.session_stats().number == 0);
  connect(c);
  connect(c);
  CHECK(c.server.session_stats().number == 2);
}

TEST_CASE("set_session_cache_size bounds the server's cache: the oldest session goes first",
          "[session][stats][tls12]") {
  Contexts c = contexts(TLSVersion::tlsv1_2);
  c.server.set_options(c.server.options() | sanstls::Options::no_ticket);
  CHECK(c.server.session_cache_size() == 20480);
  c.server.set_session_cache_size(2);
  CHECK(c.server.session_cache_size() == 2);
  std::optional<Session> first = connect(c).client.session();
  std::optional<Session> second = connect(c).client.session();
  std::optional<Session> third = connect(c).client.session();
  REQUIRE((first && second && third));
  CHECK(c.server.session_stats().number == 2);
  CHECK(c.server.session_stats().cache_full == 1);
  // Resuming the second does not make it younger: the next newcomer still
  // pushes it out, and the first was gone already.
  CHECK(connect(c, second).client.session_reused());
  CHECK_FALSE(connect(c, first).client.session_reused());  // a full handshake: a 4th session
  CHECK(c.server.session_stats().cache_full == 2);
  CHECK(connect(c, third).client.session_reused());
  CHECK_FALSE(connect(c, second).client.session_reused());
  CHECK(c.server.session_stats().number == 2);

  // 0: no bound.
  c.server.set_session_cache_size(0);
  for (int i = 0; i < 4; ++i) connect(c);
  CHECK(c.server.session_stats().number == 6);
}

TEST_CASE("servers sharing ticket keys resume each other's tickets; rotation keeps old tickets",
          "[session][ticket_keys]") {
  const TLSVersion version = GENERATE(TLSVersion::tlsv1_3, TLSVersion::tlsv1_2);
  INFO(version_name(version));
  const sanstls::TicketKey old_key = sanstls::TicketKey::generate();
  const sanstls::TicketKey new_key = sanstls::TicketKey::generate();
  CHECK_FALSE(old_key == new_key);

  Contexts a = contexts(version);
  a.server.set_ticket_keys(std::vector{old_key});
  Contexts b{a.client, test::server_context()};
  b.server.set_ticket_keys(std::vector{old_key});
  // A ticket from server a resumes on server b: a fleet.
  std::optional<Session> from_a = connect(a).client.session();
  REQUIRE(from_a);
  Connection on_b = connect(b, from_a);
  CHECK(on_b.client.session_reused());
  CHECK(on_b.server.session_reused());

  // Rotation: b now issues under the new key and still accepts the old.
  b.server.set_ticket_keys(std::vector{new_key, old_key});
  Connection rotated = connect(b, from_a);
  CHECK(rotated.client.session_reused());
  std::optional<Session> renewed = rotated.client.session();
  REQUIRE(renewed);
  CHECK(renewed->has_ticket());

  // A server that dropped the old key does a full handshake for it, but
  // resumes the renewed ticket.
  Contexts c{a.client, test::server_context()};
  c.server.set_ticket_keys(std::vector{new_key});
  CHECK_FALSE(connect(c, from_a).client.session_reused());
  CHECK(connect(c, renewed).client.session_reused());

  CHECK_THROWS_AS(c.server.set_ticket_keys(std::span<const sanstls::TicketKey>{}), std::invalid_argument);
}

TEST_CASE("num_tickets sets how many TLS 1.3 tickets a server sends, as Python 3.8",
          "[session][tls13]") {
  Contexts c = contexts(TLSVersion::tlsv1_3);
  CHECK(c.server.num_tickets() == 2);  // Python's and BoringSSL's default
  int received = 0;  // NewSessionTicket messages the client read
  c.client.set_msg_callback([&](const sanstls::MessageInfo& m) {
    if (!m.sent && m.content_type == sanstls::ContentType::handshake && m.msg_type == 4) {
      ++received;
    }
  });
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
    CAPTURE(n);
    c.server.set_num_tickets(n);
    CHECK(c.server.num_tickets() == n);
    received = 0;
    Connection conn = connect(c);
    CHECK(conn.client.read(1).status == Status::want_read);  // reads the tickets
    CHECK(received == static_cast<int>(n));
    std::optional<Session> session = conn.client.session();
    REQUIRE(session);
    CHECK(session->is_resumable() == (n > 0));
    if (n > 0) {  // the one ticket still resumes
      Connection again = connect(c, session);
      CHECK(again.client.session_reused());
      CHECK(again.server.session_reused());
    }
  }
  // BoringSSL sends at most 16; the setting is still reported as made.
  c.server.set_num_tickets(100);
  CHECK(c.server.num_tickets() == 100);
  received = 0;
  Connection many = connect(c);
  CHECK(many.client.read(1).status == Status::want_read);
  CHECK(received == 16);
}

TEST_CASE("num_tickets is a server setting, as in Python", "[session][errors]") {
  for (sanstls::Protocol p : {sanstls::Protocol::tls_client, sanstls::Protocol::tls}) {
    Context ctx(p);
    CHECK(ctx.num_tickets() == 2);
    CHECK_THROWS_WITH(ctx.set_num_tickets(1), "SSLContext is not a server context.");
    CHECK(ctx.num_tickets() == 2);
  }
}
