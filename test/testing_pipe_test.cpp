// The public test pipe: its transports deliver exactly what they promise,
// so tests built on it (ours and users') can trust what they exercise.
#include <catch.hpp>

#include <string>
#include <vector>

#include <sanstls/testing/pipe.hpp>

#include "support.hpp"

using sanstls::MemoryBIO;
using sanstls::Status;
using sanstls::testing::Pipe;
using sanstls::testing::Side;
using sanstls::testing::Transport;

namespace {

// chunks delivers |data| through |t| and returns the size of each step.
std::vector<std::size_t> chunks(Transport t, const std::string& data) {
  MemoryBIO from, to;
  from.write(data);
  std::vector<std::size_t> sizes;
  while (true) {
    std::size_t before = to.pending();
    if (!t.deliver(from, to)) break;
    sizes.push_back(to.pending() - before);
  }
  CHECK(to.read() == data);
  return sizes;
}

}  // namespace

TEST_CASE("everything delivers all pending bytes in one step", "[pipe][transport]") {
  CHECK(chunks(Transport::everything(), std::string(10000, 'a')) == std::vector<std::size_t>{10000});
  CHECK(chunks(Transport::everything(), "").empty());
}

TEST_CASE("byte_at_a_time delivers single bytes", "[pipe][transport]") {
  std::vector<std::size_t> sizes = chunks(Transport::byte_at_a_time(), "hello");
  CHECK(sizes == std::vector<std::size_t>(5, 1));
}

TEST_CASE("random_chunks is bounded and reproducible from its seed", "[pipe][transport]") {
  const std::string data = test::pattern(50000);
  std::vector<std::size_t> a = chunks(Transport::random_chunks(42, 100), data);
  std::vector<std::size_t> b = chunks(Transport::random_chunks(42, 100), data);
  std::vector<std::size_t> c = chunks(Transport::random_chunks(43, 100), data);
  CHECK(a == b);
  CHECK(a != c);
  std::size_t total = 0;
  for (std::size_t n : a) {
    CHECK(n >= 1);
    CHECK(n <= 100);
    total += n;
  }
  CHECK(total == data.size());
  CHECK_THROWS_AS(Transport::random_chunks(1, 0), std::invalid_argument);
}

TEST_CASE("truncate_after cuts the stream and signals EOF once", "[pipe][transport]") {
  MemoryBIO from, to;
  Transport t = Transport::everything().truncate_after(7);
  from.write(std::string_view("0123456789"));
  CHECK(t.deliver(from, to));
  CHECK(to.read() == "0123456");
  CHECK(to.eof());
  CHECK(t.delivered() == 7);
  // Later bytes are lost, as on a dead connection.
  from.write(std::string_view("more"));
  t.deliver(from, to);
  CHECK(from.pending() == 0);
  CHECK(to.pending() == 0);
  CHECK_FALSE(t.deliver(from, to));
}

TEST_CASE("flip_byte changes exactly one byte at its stream offset", "[pipe][transport]") {
  const std::string data = test::pattern(1000);
  for (std::uint64_t offset : {0u, 1u, 499u, 999u}) {
    MemoryBIO from, to;
    Transport t = Transport::random_chunks(offset + 1, 64).flip_byte(offset, 0x40);
    from.write(data);
    while (t.deliver(from, to)) {
    }
    std::string got = to.read();
    REQUIRE(got.size() == data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (i == offset) {
        CHECK(static_cast<unsigned char>(got[i] ^ data[i]) == 0x40);
      } else if (got[i] != data[i]) {
        FAIL("byte " << i << " changed");
      }
    }
  }
}

TEST_CASE("run goes quiet and reports each side's last result", "[pipe]") {
  test::Pair p = test::make_pair(test::client_context(), test::server_context());
  Pipe pipe(p.client, p.server);
  CHECK(pipe.last(Side::client).status == Status::want_read);
  REQUIRE(pipe.handshake());
  // Established and idle: both sides wait for the peer.
  CHECK(pipe.last(Side::client).status == Status::want_read);
  CHECK(pipe.last(Side::server).status == Status::want_read);
  CHECK(p.client.outgoing().pending() == 0);
  CHECK(p.server.outgoing().pending() == 0);
  pipe.run();  // nothing to do: returns
  CHECK(pipe.received(Side::client).empty());

  REQUIRE(pipe.send(Side::client, "abc").ok());
  REQUIRE(pipe.send(Side::client, "def").ok());
  CHECK(pipe.received(Side::server) == "abcdef");
  CHECK(pipe.take_received(Side::server) == "abcdef");
  CHECK(pipe.received(Side::server).empty());
}

TEST_CASE("a failed side stops being driven but its alert is delivered", "[pipe]") {
  sanstls::Context client_ctx(sanstls::Protocol::tls_client);  // trusts nothing
  test::Pair p = test::make_pair(client_ctx, test::server_context());
  Pipe pipe(p.client, p.server);
  CHECK_FALSE(pipe.handshake());
  CHECK(pipe.last(Side::client).status == Status::error);
  CHECK(pipe.last(Side::server).status == Status::error);  // got the alert
  CHECK(p.client.outgoing().pending() == 0);                // all of it delivered
}
