// MemoryBIO: Python's ssl.MemoryBIO semantics (the cases of CPython's
// MemoryBIOTests, checked against Python 3.11's own MemoryBIO), handle
// sharing, the zero-copy path, data integrity and cost under many small
// operations, memory use, and the bridge BoringSSL reads and writes through.
#include <catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sanstls/sanstls.hpp>

#include "support.hpp"

namespace {

using sanstls::MemoryBIO;
using sanstls::Status;

std::string to_string(std::span<const std::byte> bytes) {
  return std::string(sanstls::as_string_view(bytes));
}

std::span<std::byte> writable(std::string& s) { return std::as_writable_bytes(std::span(s)); }

// copy_text copies |text| into the front of |space|, which must be large enough.
void copy_text(std::string_view text, std::span<std::byte> space) {
  REQUIRE(space.size() >= text.size());
  std::span<const std::byte> bytes = sanstls::as_bytes(text);
  std::copy(bytes.begin(), bytes.end(), space.begin());
}

}  // namespace

// ---------------------------------------------------------------------------
// Python's MemoryBIO semantics.

TEST_CASE("read returns bytes in the order written, then empty once drained (Python test_read_write)",
          "[memory_bio][python]") {
  MemoryBIO bio;
  CHECK(bio.write(std::string_view("foo")) == 3);
  CHECK(bio.read() == "foo");
  CHECK(bio.read().empty());
  bio.write(std::string_view("foo"));
  bio.write(std::string_view("bar"));
  CHECK(bio.read() == "foobar");
  CHECK(bio.read().empty());
  bio.write(std::string_view("baz"));
  CHECK(bio.read(2) == "ba");
  CHECK(bio.read(1) == "z");
  CHECK(bio.read(1).empty());
}

TEST_CASE("pending counts the bytes written and not yet read (Python test_pending)",
          "[memory_bio][python]") {
  MemoryBIO bio;
  CHECK(bio.pending() == 0);
  bio.write(std::string_view("foo"));
  CHECK(bio.pending() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(bio.read(1).size() == 1);
    CHECK(bio.pending() == 3 - i - 1);
  }
  for (std::size_t i = 0; i < 3; ++i) {
    bio.write(std::string_view("x"));
    CHECK(bio.pending() == i + 1);
  }
  CHECK(bio.read() == "xxx");
  CHECK(bio.pending() == 0);
}

TEST_CASE("eof is false until write_eof was called and every buffered byte was read (Python test_eof)",
          "[memory_bio][python]") {
  MemoryBIO bio;
  CHECK_FALSE(bio.eof());
  CHECK_FALSE(bio.eof_written());
  CHECK(bio.read().empty());
  CHECK_FALSE(bio.eof());  // an empty read is not end of stream
  bio.write(std::string_view("foo"));
  CHECK_FALSE(bio.eof());
  bio.write_eof();
  CHECK_FALSE(bio.eof());  // bytes remain
  CHECK(bio.eof_written());
  CHECK(bio.pending() == 3);
  CHECK(bio.read(2) == "fo");
  CHECK_FALSE(bio.eof());
  CHECK(bio.read(1) == "o");
  CHECK(bio.eof());  // drained
  CHECK(bio.read().empty());
  CHECK(bio.eof());
  CHECK(bio.pending() == 0);
}

TEST_CASE("write_eof on an empty buffer makes eof true at once", "[memory_bio][python]") {
  // Python: b = ssl.MemoryBIO(); b.write_eof(); b.eof -> True
  MemoryBIO bio;
  bio.write_eof();
  CHECK(bio.eof());
  CHECK(bio.eof_written());
  CHECK(bio.read().empty());
}

TEST_CASE("read(n) returns at most n bytes and leaves the rest buffered", "[memory_bio][python]") {
  MemoryBIO bio;
  bio.write(std::string_view("0123456789"));
  CHECK(bio.read(0).empty());  // Python: read(0) == b''
  CHECK(bio.pending() == 10);
  CHECK(bio.read(3) == "012");
  CHECK(bio.pending() == 7);
  CHECK(bio.read(4) == "3456");
  CHECK(bio.read(100) == "789");  // more than buffered: what there is
  CHECK(bio.pending() == 0);
  CHECK(bio.read(5).empty());
}

TEST_CASE("read() with no argument returns every buffered byte, including NULs", "[memory_bio][python]") {
  MemoryBIO bio;
  const std::string data = test::pattern(100'000, 7);
  REQUIRE(data.find('\0') != std::string::npos);
  bio.write(std::string_view(data).substr(0, 40'000));
  bio.write(std::string_view(data).substr(40'000));
  CHECK(bio.pending() == data.size());
  std::string all = bio.read();
  CHECK(all.size() == data.size());
  CHECK((all == data));
  CHECK(bio.pending() == 0);
}

TEST_CASE("read on an empty buffer returns an empty string and changes nothing", "[memory_bio][python]") {
  MemoryBIO bio;
  CHECK(bio.read().empty());
  CHECK(bio.read(0).empty());
  CHECK(bio.read(10).empty());
  CHECK(bio.pending() == 0);
  CHECK_FALSE(bio.eof());
  bio.write(std::string_view("ok"));  // still usable
  CHECK(bio.read() == "ok");
}

TEST_CASE("write returns the number of bytes given, always all of them, even zero", "[memory_bio][python]") {
  MemoryBIO bio;
  CHECK(bio.write(std::string_view()) == 0);  // Python: write(b'') == 0
  CHECK(bio.pending() == 0);
  CHECK(bio.write(std::span<const std::byte>()) == 0);
  CHECK(bio.pending() == 0);
  CHECK_FALSE(bio.eof());

  const std::string big = test::pattern(1 << 20, 3);
  CHECK(bio.write(sanstls::as_bytes(big)) == big.size());
  CHECK(bio.pending() == big.size());
  const std::string nuls("\0\0\0", 3);
  CHECK(bio.write(nuls) == 3);
  CHECK(bio.pending() == big.size() + 3);
  CHECK((bio.read() == big + nuls));
}

TEST_CASE("write after write_eof throws SSLError and writes nothing", "[memory_bio][python]") {
  MemoryBIO bio;
  bio.write(std::string_view("abc"));
  bio.write_eof();

  SECTION("a non-empty write") {
    try {
      (void)bio.write(std::string_view("x"));
      FAIL("write after write_eof did not throw");
    } catch (const sanstls::SSLError& e) {
      CHECK(std::string(e.what()) == "cannot write() after write_eof()");
      CHECK(e.error().kind == sanstls::ErrorKind::ssl);  // Python raises plain ssl.SSLError
      CHECK(e.error().message == "cannot write() after write_eof()");
    }
  }
  SECTION("an empty write, as Python: write(b'') after write_eof() raises too") {
    CHECK_THROWS_AS(bio.write(std::string_view()), sanstls::SSLError);
  }
  SECTION("a write through the span overload") {
    const std::string more = "more";
    CHECK_THROWS_WITH(bio.write(sanstls::as_bytes(more)), "cannot write() after write_eof()");
  }
  CHECK(bio.pending() == 3);
  CHECK_FALSE(bio.eof());
  CHECK(bio.read() == "abc");  // what was there before is intact
  CHECK(bio.eof());
}

TEST_CASE("write_eof twice is harmless", "[memory_bio][python]") {
  MemoryBIO bio;
  bio.write(std::string_view("abc"));
  bio.write_eof();
  bio.write_eof();
  CHECK(bio.pending() == 3);
  CHECK_FALSE(bio.eof());
  CHECK(bio.read() == "abc");
  CHECK(bio.eof());
  bio.write_eof();
  CHECK(bio.eof());
  CHECK(bio.pending() == 0);
}

TEST_CASE("read_into copies at most the span's size and removes exactly what it copied",
          "[memory_bio]") {
  MemoryBIO bio;
  bio.write(std::string_view("hello world"));

  SECTION("a smaller span is filled and the rest stays buffered") {
    std::string out(5, '#');
    CHECK(bio.read_into(writable(out)) == 5);
    CHECK(out == "hello");
    CHECK(bio.pending() == 6);
    CHECK(bio.read() == " world");
  }
  SECTION("a larger span gets what is buffered and the bytes past it are untouched") {
    std::string out(20, '#');
    CHECK(bio.read_into(writable(out)) == 11);
    CHECK(out == "hello world#########");
    CHECK(bio.pending() == 0);
    CHECK(bio.read_into(writable(out)) == 0);  // empty buffer: nothing copied
    CHECK(out == "hello world#########");
  }
  SECTION("an empty span copies nothing and removes nothing") {
    CHECK(bio.read_into(std::span<std::byte>()) == 0);
    CHECK(bio.pending() == 11);
    CHECK(bio.read() == "hello world");
  }
  SECTION("read_into drains to eof after write_eof") {
    bio.write_eof();
    std::string out(11, '#');
    CHECK(bio.read_into(writable(out)) == 11);
    CHECK(out == "hello world");
    CHECK(bio.eof());
  }
}

// ---------------------------------------------------------------------------
// Handles.

TEST_CASE("copies of a MemoryBIO share one buffer", "[memory_bio][handle]") {
  MemoryBIO a;
  MemoryBIO b = a;  // a copy of the handle, not of the bytes
  CHECK(a.shares_buffer_with(b));
  CHECK(b.shares_buffer_with(a));
  CHECK(a.shares_buffer_with(a));

  a.write(std::string_view("from a"));
  CHECK(b.pending() == 6);
  CHECK(b.read(4) == "from");
  CHECK(a.pending() == 2);
  CHECK(a.readable().data() == b.readable().data());
  b.write(std::string_view(" and b"));
  CHECK(a.read() == " a and b");
  CHECK(b.pending() == 0);

  MemoryBIO c;
  c = b;  // copy assignment joins the same buffer
  CHECK(c.shares_buffer_with(a));
  c.write_eof();
  CHECK(a.eof_written());
  CHECK(a.eof());
  CHECK_THROWS_AS(a.write(std::string_view("x")), sanstls::SSLError);
}

TEST_CASE("a copy keeps the buffer alive after the original is gone", "[memory_bio][handle]") {
  MemoryBIO survivor;
  {
    MemoryBIO original;
    original.write(std::string_view("still here"));
    survivor = original;
  }
  CHECK(survivor.read() == "still here");
}

TEST_CASE("a default-constructed MemoryBIO is a new, separate buffer", "[memory_bio][handle]") {
  MemoryBIO a;
  MemoryBIO b;
  CHECK_FALSE(a.shares_buffer_with(b));
  a.write(std::string_view("only in a"));
  CHECK(b.pending() == 0);
  b.write_eof();
  CHECK_FALSE(a.eof_written());
  CHECK(a.read() == "only in a");

  MemoryBIO c = a;
  c = MemoryBIO();  // assigning a new buffer detaches c from a
  CHECK_FALSE(c.shares_buffer_with(a));
  a.write(std::string_view("x"));
  CHECK(c.pending() == 0);
}

// ---------------------------------------------------------------------------
// Zero-copy path.

TEST_CASE("readable shows the buffered bytes without removing them", "[memory_bio][zero_copy]") {
  MemoryBIO bio;
  CHECK(bio.readable().empty());
  bio.write(std::string_view("hello "));
  bio.write(std::string_view("world"));
  CHECK(to_string(bio.readable()) == "hello world");
  CHECK(to_string(bio.readable()) == "hello world");  // looking twice changes nothing
  CHECK(bio.pending() == 11);
  CHECK(bio.read(6) == "hello ");
  CHECK(to_string(bio.readable()) == "world");
  CHECK(bio.read() == "world");
  CHECK(bio.readable().empty());
}

TEST_CASE("consume removes bytes from the front of the buffer", "[memory_bio][zero_copy]") {
  MemoryBIO bio;
  bio.write(std::string_view("hello world"));
  bio.consume(0);
  CHECK(bio.pending() == 11);
  bio.consume(6);
  CHECK(bio.pending() == 5);
  CHECK(to_string(bio.readable()) == "world");
  bio.write_eof();
  CHECK_FALSE(bio.eof());
  bio.consume(5);
  CHECK(bio.pending() == 0);
  CHECK(bio.readable().empty());
  CHECK(bio.eof());  // consume drains to eof just as read does
  CHECK(bio.read().empty());
}

TEST_CASE("consume of more than is pending throws out_of_range naming the pending size and removes nothing",
          "[memory_bio][zero_copy]") {
  MemoryBIO bio;
  const std::string data = test::pattern(37, 11);
  bio.write(data);
  try {
    bio.consume(1000);
    FAIL("consume(1000) of 37 pending bytes did not throw");
  } catch (const std::out_of_range& e) {
    const std::string message = e.what();
    INFO("message: " << message);
    CHECK(message.find("37") != std::string::npos);
    CHECK(message.find("1000") != std::string::npos);
  }
  CHECK_THROWS_AS(bio.consume(38), std::out_of_range);  // one past is enough to fail
  CHECK(bio.pending() == 37);
  CHECK((bio.read() == data));

  // An empty buffer reports 0.
  try {
    bio.consume(1);
    FAIL("consume(1) on an empty buffer did not throw");
  } catch (const std::out_of_range& e) {
    CHECK(std::string(e.what()).find('0') != std::string::npos);
  }
  CHECK(bio.pending() == 0);
}

TEST_CASE("prepare and commit append bytes written straight into the buffer", "[memory_bio][zero_copy]") {
  MemoryBIO bio;
  bio.write(std::string_view("ab"));
  std::span<std::byte> space = bio.prepare(10);
  CHECK(space.size() == 10);
  CHECK(bio.pending() == 2);  // prepared space is not readable yet
  CHECK(bio.capacity() >= bio.pending() + 10);
  copy_text("cdefghijkl", space);
  CHECK(bio.pending() == 2);
  CHECK(to_string(bio.readable()) == "ab");
  bio.commit(4);  // fewer than prepared: only those become readable
  CHECK(bio.pending() == 6);
  CHECK(to_string(bio.readable()) == "abcdef");
  CHECK(bio.read() == "abcdef");

  SECTION("prepare(0) and commit(0) are no-ops") {
    CHECK(bio.prepare(0).empty());
    bio.commit(0);
    CHECK(bio.pending() == 0);
  }
  SECTION("a large prepare grows the buffer to fit") {
    std::span<std::byte> large = bio.prepare(1 << 20);
    REQUIRE(large.size() == std::size_t{1} << 20);
    const std::string data = test::pattern(1 << 20, 5);
    copy_text(data, large);
    bio.commit(large.size());
    CHECK((bio.read() == data));
  }
}

TEST_CASE("commit of more than was prepared throws out_of_range and adds nothing", "[memory_bio][zero_copy]") {
  MemoryBIO bio;
  bio.write(std::string_view("x"));

  SECTION("more than the last prepare") {
    std::span<std::byte> space = bio.prepare(8);
    copy_text("12345678", space);
    try {
      bio.commit(9);
      FAIL("commit(9) after prepare(8) did not throw");
    } catch (const std::out_of_range& e) {
      INFO("message: " << e.what());
      CHECK(std::string(e.what()).find('8') != std::string::npos);  // names the prepared size
    }
    CHECK(bio.pending() == 1);
    CHECK(bio.read() == "x");
  }
  SECTION("commit with no prepare") {
    CHECK_THROWS_AS(bio.commit(1), std::out_of_range);
    CHECK(bio.pending() == 1);
  }
  SECTION("a second commit: the prepared space was used up by the first") {
    std::span<std::byte> space = bio.prepare(4);
    copy_text("abcd", space);
    bio.commit(2);
    CHECK_THROWS_AS(bio.commit(2), std::out_of_range);
    CHECK(bio.read() == "xab");
  }
}

TEST_CASE("prepare and commit after write_eof throw SSLError and add nothing", "[memory_bio][zero_copy]") {
  MemoryBIO bio;
  bio.write(std::string_view("abc"));

  SECTION("prepare after write_eof") {
    bio.write_eof();
    CHECK_THROWS_AS(bio.prepare(1), sanstls::SSLError);
    CHECK_THROWS_WITH(bio.prepare(16), "cannot write() after write_eof()");
  }
  SECTION("commit of space prepared before write_eof") {
    std::span<std::byte> space = bio.prepare(4);
    copy_text("defg", space);
    bio.write_eof();
    CHECK_THROWS_AS(bio.commit(4), sanstls::SSLError);
    CHECK_THROWS_AS(bio.commit(0), sanstls::SSLError);
  }
  CHECK(bio.pending() == 3);
  CHECK(bio.read() == "abc");
  CHECK(bio.eof());
}

TEST_CASE("prepare/commit and write interleave in stream order", "[memory_bio][zero_copy]") {
  MemoryBIO bio;
  bio.write(std::string_view("ab"));
  copy_text("cd", bio.prepare(2));
  bio.commit(2);
  bio.write(std::string_view("ef"));
  copy_text("gh??", bio.prepare(4));
  bio.commit(2);
  bio.write(std::string_view("ij"));
  CHECK(bio.read(3) == "abc");
  copy_text("kl", bio.prepare(2));
  bio.commit(2);
  CHECK(bio.read() == "defghijkl");
}

TEST_CASE("a write between prepare and commit cancels the prepared space", "[memory_bio][zero_copy]") {
  // The write appends where the prepared space was, so committing it would
  // expose bytes the caller never meant; the buffer refuses instead.
  MemoryBIO bio;
  copy_text("zzzz", bio.prepare(4));
  bio.write(std::string_view("ab"));
  CHECK_THROWS_AS(bio.commit(4), std::out_of_range);
  CHECK(bio.pending() == 2);
  CHECK(bio.read() == "ab");
}

// ---------------------------------------------------------------------------
// Integrity and cost under many small operations.

namespace {

// stream_byte is byte |position| of the test streams: cheap to compute, so
// a reader can check every byte it gets without keeping what was written.
std::byte stream_byte(std::uint64_t position) {
  std::uint64_t x = position * 0x9E3779B97F4A7C15ull;
  return static_cast<std::byte>((x ^ (x >> 29)) >> 56);
}

}  // namespace

TEST_CASE("randomized model: any mix of writes, reads, prepare/commit and consume keeps the byte stream intact",
          "[memory_bio][model]") {
  std::mt19937 rng(20240611);
  auto uniform = [&rng](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };
  // A length: usually small (records, single bytes), now and then large
  // enough to force the buffer to grow.
  auto length = [&](std::size_t limit) {
    std::size_t pick = uniform(0, 99);
    if (pick < 70) return uniform(0, std::min<std::size_t>(limit, 64));
    if (pick < 97) return uniform(0, std::min<std::size_t>(limit, 2048));
    return uniform(0, std::min<std::size_t>(limit, 40'000));
  };

  // The model is the stream itself: byte i of the input is stream_byte(i);
  // |written| and |read_total| count the bytes that went in and came out.
  MemoryBIO bio;
  std::uint64_t written = 0;
  std::uint64_t read_total = 0;
  std::uint64_t wrong_bytes = 0;
  std::size_t max_pending = 0;
  std::string scratch;
  // (Locals, not the captured counters, inside the loops: std::byte may
  // alias anything, which would make the compiler reload them per byte.)
  auto produce = [&](std::span<std::byte> out) {
    const std::uint64_t start = written;
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = stream_byte(start + i);
    written = start + out.size();
  };
  auto check_output = [&](std::span<const std::byte> got) {
    const std::uint64_t start = read_total;
    std::uint64_t wrong = 0;
    for (std::size_t i = 0; i < got.size(); ++i) wrong += got[i] != stream_byte(start + i);
    wrong_bytes += wrong;
    read_total = start + got.size();
  };
  int counts[6] = {};
  constexpr int kOperations = 200'000;
  constexpr std::size_t kUnbounded = static_cast<std::size_t>(-1);

  for (int op = 0; op < kOperations; ++op) {
    const std::size_t pending = static_cast<std::size_t>(written - read_total);
    // Phases of 5,000 operations alternately favour writing and reading,
    // so the buffer swings between empty and hundreds of KiB.
    const bool filling = (op / 5000) % 2 == 0;
    const std::size_t roll = uniform(0, 999);
    int kind = 0;
    if (roll < 2) {
      kind = 5;  // read everything
    } else if (roll < (filling ? 400u : 200u)) {
      kind = 0;  // write
    } else if (roll < (filling ? 650u : 300u)) {
      kind = 1;  // prepare + commit
    } else if (roll < (filling ? 770u : 530u)) {
      kind = 2;  // read(n)
    } else if (roll < (filling ? 890u : 760u)) {
      kind = 3;  // read_into
    } else {
      kind = 4;  // readable + consume
    }
    ++counts[kind];
    switch (kind) {
      case 0: {
        scratch.assign(length(kUnbounded), '\0');
        produce(writable(scratch));
        REQUIRE(bio.write(scratch) == scratch.size());
        break;
      }
      case 1: {  // fill part of the prepared space and commit that part
        std::size_t n = length(kUnbounded);
        std::span<std::byte> space = bio.prepare(n);
        REQUIRE(space.size() == n);
        std::size_t k = uniform(0, n);
        produce(space.first(k));
        bio.commit(k);
        break;
      }
      case 2: {
        const std::size_t n = length(pending + 16);
        std::string got = bio.read(n);
        REQUIRE(got.size() == std::min(n, pending));
        check_output(sanstls::as_bytes(got));
        break;
      }
      case 3: {
        scratch.assign(length(pending + 16), '\0');
        std::size_t got = bio.read_into(writable(scratch));
        REQUIRE(got == std::min(scratch.size(), pending));
        check_output(sanstls::as_bytes(scratch).first(got));
        break;
      }
      case 4: {  // look, then consume part of what is readable
        std::span<const std::byte> view = bio.readable();
        REQUIRE(view.size() == pending);
        std::size_t k = length(pending);
        check_output(view.first(k));
        bio.consume(k);
        break;
      }
      default: {
        std::string got = bio.read();
        REQUIRE(got.size() == pending);
        check_output(sanstls::as_bytes(got));
        break;
      }
    }
    const std::size_t model_pending = static_cast<std::size_t>(written - read_total);
    max_pending = std::max(max_pending, model_pending);
    if (bio.pending() != model_pending || bio.capacity() < bio.pending() || wrong_bytes != 0) {
      INFO("operation " << op << " (kind " << kind << "): pending " << bio.pending() << ", model "
                        << model_pending << ", capacity " << bio.capacity() << ", wrong bytes "
                        << wrong_bytes);
      REQUIRE(wrong_bytes == 0);
      REQUIRE(bio.pending() == model_pending);
      REQUIRE(bio.capacity() >= bio.pending());
    }
  }
  bio.write_eof();
  CHECK(bio.eof() == (bio.pending() == 0));
  std::string rest = bio.read();
  check_output(sanstls::as_bytes(rest));
  CHECK(bio.eof());
  CHECK(read_total == written);
  CHECK(wrong_bytes == 0);
  // The run really exercised every operation and a large buffer.
  INFO("written " << written << ", max pending " << max_pending);
  for (int count : counts) CHECK(count > 100);
  CHECK(max_pending > 100'000);
  CHECK(written > 10'000'000);
}

TEST_CASE("take_readable moves the buffered bytes into a Block without copying them",
          "[memory_bio][zero_copy][take]") {
  MemoryBIO bio;
  CHECK(bio.take_readable().empty());  // nothing buffered: an empty Block
  bio.write(std::string_view("hello "));
  bio.write(std::string_view("world"));
  const std::byte* where = bio.readable().data();
  MemoryBIO::Block block = bio.take_readable();
  CHECK(block.bytes().data() == where);  // the same memory, not a copy
  CHECK(to_string(block.bytes()) == "hello world");
  CHECK(block.size() == 11);
  CHECK(bio.pending() == 0);
  CHECK(bio.capacity() == 0);  // the buffer went with the Block

  // Writes after the take land elsewhere, however much they grow the
  // buffer, and the Block's bytes stay where and what they were: this is
  // what lets a send from the Block be in flight while the Object writes.
  const std::string big = test::pattern(1 << 20, 3);
  bio.write(std::string_view("next"));
  bio.write(big);
  CHECK(block.bytes().data() == where);
  CHECK(to_string(block.bytes()) == "hello world");
  CHECK(bio.read(4) == "next");
  CHECK(bio.read() == big);

  // A short send: consume what went, the rest stays in place.
  block.consume(6);
  CHECK(to_string(block.bytes()) == "world");
  CHECK(block.bytes().data() == where + 6);
  try {
    block.consume(6);
    FAIL("consume(6) of a 5-byte Block did not throw");
  } catch (const std::out_of_range& e) {
    INFO("message: " << e.what());
    CHECK(std::string(e.what()).find('5') != std::string::npos);
  }
  CHECK(block.size() == 5);
  block.consume(5);
  CHECK(block.empty());

  // Move-only: the bytes move with the Block, the moved-from one is empty.
  bio.write(std::string_view("abc"));
  MemoryBIO::Block first = bio.take_readable();
  MemoryBIO::Block second = std::move(first);
  CHECK(first.empty());  // NOLINT(bugprone-use-after-move): documented state
  CHECK(to_string(second.bytes()) == "abc");
  bio.write(std::string_view("def"));
  first = bio.take_readable();
  second = std::move(first);  // frees "abc", takes "def"
  CHECK(to_string(second.bytes()) == "def");
  CHECK(bio.pending() == 0);
}

TEST_CASE("take_readable while prepared space is being filled copies the readable bytes and keeps the space",
          "[memory_bio][zero_copy][take]") {
  MemoryBIO bio;
  bio.write(std::string_view("abc"));
  std::span<std::byte> space = bio.prepare(8);
  MemoryBIO::Block block = bio.take_readable();
  CHECK(to_string(block.bytes()) == "abc");
  CHECK(bio.pending() == 0);
  CHECK(bio.capacity() > 0);  // the prepared space is still there
  copy_text("defg", space);  // the fill finishes after the take
  bio.commit(4);
  CHECK(bio.read() == "defg");
  CHECK(to_string(block.bytes()) == "abc");  // the copy is the Block's own
}

TEST_CASE("take_readable keeps eof: a Block taken after write_eof leaves the buffer at eof",
          "[memory_bio][zero_copy][take]") {
  MemoryBIO bio;
  bio.write(std::string_view("last"));
  bio.write_eof();
  CHECK_FALSE(bio.eof());
  MemoryBIO::Block block = bio.take_readable();
  CHECK(bio.eof());
  CHECK(to_string(block.bytes()) == "last");
}

TEST_CASE("randomized full duplex: a sender holding Blocks while writes continue sees the stream intact",
          "[memory_bio][model][take]") {
  // The sender is a completion-based transport: it takes what is readable,
  // sends it in short pieces over several turns, and only takes more when
  // its Block is used up, while the writer keeps appending in between (as
  // the Object does when it answers a KeyUpdate or echoes data).
  std::mt19937 rng(20261207);
  auto uniform = [&rng](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };
  MemoryBIO bio;
  MemoryBIO::Block sending;
  std::uint64_t written = 0;
  std::uint64_t sent = 0;
  std::uint64_t wrong = 0;
  std::uint64_t zero_copy_takes = 0;
  std::string scratch;
  for (int op = 0; op < 100'000; ++op) {
    if (uniform(0, 1) == 0) {
      const std::size_t n = uniform(0, 99) < 95 ? uniform(0, 300) : uniform(0, 40'000);
      scratch.resize(n);
      for (std::size_t i = 0; i < n; ++i) scratch[i] = static_cast<char>(stream_byte(written + i));
      written += n;
      bio.write(scratch);
      continue;
    }
    if (sending.empty()) {
      const std::byte* front = bio.readable().data();
      sending = bio.take_readable();
      if (!sending.empty() && sending.bytes().data() == front) ++zero_copy_takes;
    }
    const std::size_t k = uniform(0, std::min<std::size_t>(sending.size(), 5000));
    std::span<const std::byte> piece = sending.bytes().first(k);
    for (std::size_t i = 0; i < k; ++i) wrong += piece[i] != stream_byte(sent + i);
    sent += k;
    sending.consume(k);
    REQUIRE(wrong == 0);
    REQUIRE(written - sent == bio.pending() + sending.size());
  }
  for (std::byte b : sending.bytes()) wrong += b != stream_byte(sent++);
  sending = bio.take_readable();
  for (std::byte b : sending.bytes()) wrong += b != stream_byte(sent++);
  CHECK(wrong == 0);
  CHECK(sent == written);
  CHECK(bio.pending() == 0);
  CHECK(zero_copy_takes > 1000);
}

TEST_CASE("64 MiB in 16-byte writes and reads with 1 MiB buffered arrive intact (no quadratic memmove)",
          "[memory_bio][performance]") {
  // With 1 MiB buffered, a buffer that moved the unread bytes on every read
  // would copy 1 MiB four million times (hours); one that compacts with
  // amortised O(1) cost finishes in a fraction of a second.
  constexpr std::uint32_t kTotal = 64u << 20;
  constexpr std::uint32_t kBuffered = 1u << 20;
  constexpr std::size_t kChunk = 16;
  auto byte_at = [](std::uint32_t position) {
    return static_cast<std::byte>((position * 0x9E3779B1u) >> 24);
  };

  MemoryBIO bio;
  std::uint32_t written = 0;
  std::uint32_t read_total = 0;
  std::uint64_t mismatches = 0;
  std::size_t max_capacity = 0;
  std::size_t max_pending = 0;
  std::array<std::byte, kChunk> chunk{};
  bool toggle = false;

  auto write_chunk = [&] {
    for (std::size_t i = 0; i < kChunk; ++i) chunk[i] = byte_at(written + static_cast<std::uint32_t>(i));
    if (toggle) {
      bio.write(chunk);
    } else {
      std::span<std::byte> space = bio.prepare(kChunk);
      std::copy(chunk.begin(), chunk.end(), space.begin());
      bio.commit(kChunk);
    }
    written += kChunk;
  };
  auto read_chunk = [&] {
    std::array<std::byte, kChunk> got{};
    std::size_t n = 0;
    if (toggle) {
      n = bio.read_into(got);
    } else {
      std::span<const std::byte> view = bio.readable();
      n = std::min(view.size(), kChunk);
      std::copy_n(view.begin(), n, got.begin());
      bio.consume(n);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (got[i] != byte_at(read_total + static_cast<std::uint32_t>(i))) ++mismatches;
    }
    read_total += static_cast<std::uint32_t>(n);
    return n;
  };

  while (written < kBuffered) write_chunk();
  while (written < kTotal) {
    toggle = !toggle;
    write_chunk();
    max_pending = std::max(max_pending, bio.pending());
    max_capacity = std::max(max_capacity, bio.capacity());
    if (read_chunk() != kChunk) break;
  }
  while (read_chunk() != 0) {
  }

  CHECK(written == kTotal);
  CHECK(read_total == kTotal);
  CHECK(mismatches == 0);
  CHECK(bio.pending() == 0);
  CHECK(max_pending == kBuffered + kChunk);
  // With at most ~1 MiB buffered the buffer must not keep growing.
  CHECK(max_capacity <= 4 * (kBuffered + kChunk));
  CHECK(bio.capacity() == 0);
}

// ---------------------------------------------------------------------------
// Memory.

TEST_CASE("a drained buffer gives its memory back; a full one holds at least what is pending",
          "[memory_bio][memory]") {
  const int drain = GENERATE(0, 1, 2, 3);
  INFO("drain method " << drain << " (0 read(), 1 read(n), 2 read_into, 3 consume)");
  MemoryBIO bio;
  const std::string data = test::pattern(1 << 20, 9);
  constexpr std::size_t kStep = 1000;

  SECTION("written in one call") {
    bio.write(data);
    CHECK(bio.capacity() >= bio.pending());
  }
  SECTION("written in 1000-byte writes") {
    for (std::size_t at = 0; at < data.size(); at += kStep) {
      bio.write(std::string_view(data).substr(at, kStep));
      REQUIRE(bio.capacity() >= bio.pending());
    }
  }
  SECTION("written through prepare/commit") {
    for (std::size_t at = 0; at < data.size(); at += kStep) {
      std::string_view piece = std::string_view(data).substr(at, kStep);
      copy_text(piece, bio.prepare(kStep));
      bio.commit(piece.size());
      REQUIRE(bio.capacity() >= bio.pending());
    }
  }
  REQUIRE(bio.pending() == data.size());
  CHECK(bio.capacity() >= data.size());

  std::string out;
  switch (drain) {
    case 0:
      out = bio.read();
      break;
    case 1:
      while (bio.pending() != 0) {
        out += bio.read(4000);
        REQUIRE(bio.capacity() >= bio.pending());
      }
      break;
    case 2: {
      std::string buffer(3000, '\0');
      while (std::size_t n = bio.read_into(writable(buffer))) {
        out.append(buffer, 0, n);
        REQUIRE(bio.capacity() >= bio.pending());
      }
      break;
    }
    default:
      while (bio.pending() != 0) {
        std::span<const std::byte> view = bio.readable().first(std::min<std::size_t>(bio.pending(), 5000));
        out += to_string(view);
        bio.consume(view.size());
        REQUIRE(bio.capacity() >= bio.pending());
      }
      break;
  }
  CHECK((out == data));
  CHECK(bio.pending() == 0);
  CHECK(bio.capacity() == 0);

  // The buffer is still fully usable afterwards.
  bio.write(std::string_view("again"));
  CHECK(bio.read() == "again");
}

// ---------------------------------------------------------------------------
// The engine reads and writes through the caller's MemoryBIOs.

namespace {

// How the test carries bytes from one side's outgoing to the other's incoming.
enum class Carry { whole_flights, one_byte_at_a_time, zero_copy };

// carry moves bytes from |from| to |to| with MemoryBIO calls only.
void carry(MemoryBIO& from, MemoryBIO& to, Carry how) {
  switch (how) {
    case Carry::whole_flights:
      to.write(from.read());
      break;
    case Carry::one_byte_at_a_time:
      to.write(from.read(1));
      break;
    case Carry::zero_copy: {
      std::span<const std::byte> view = from.readable();
      std::span<std::byte> space = to.prepare(view.size());
      std::copy(view.begin(), view.end(), space.begin());
      to.commit(view.size());
      from.consume(view.size());
      break;
    }
  }
}

}  // namespace

TEST_CASE("an Object handshakes through the caller's MemoryBIOs, moved by hand", "[memory_bio][engine]") {
  const Carry how = GENERATE(Carry::whole_flights, Carry::one_byte_at_a_time, Carry::zero_copy);
  INFO("carry method " << static_cast<int>(how));

  sanstls::Context client_ctx = test::client_context();
  sanstls::Context server_ctx = test::server_context();
  MemoryBIO c_in, c_out, s_in, s_out;
  sanstls::Object client = client_ctx.wrap_bio(c_in, c_out, false, "localhost");
  sanstls::Object server = server_ctx.wrap_bio(s_in, s_out, true);

  // The Object holds copies of the handles the test kept.
  CHECK(client.incoming().shares_buffer_with(c_in));
  CHECK(client.outgoing().shares_buffer_with(c_out));
  CHECK(server.incoming().shares_buffer_with(s_in));
  CHECK(server.outgoing().shares_buffer_with(s_out));
  CHECK_FALSE(client.incoming().shares_buffer_with(client.outgoing()));

  // The ClientHello lands in the test's own c_out handle.
  sanstls::Result first = client.do_handshake();
  REQUIRE(first.status == Status::want_read);
  REQUIRE(c_out.pending() > 5);
  std::span<const std::byte> hello = c_out.readable();
  CHECK(hello[0] == std::byte{0x16});  // TLS record: handshake
  CHECK(hello[1] == std::byte{0x03});  // legacy record version 3.x
  CHECK(hello[5] == std::byte{0x01});  // handshake message: ClientHello
  CHECK(s_out.pending() == 0);

  bool client_done = false;
  bool server_done = false;
  std::size_t to_server = 0;
  std::size_t to_client = 0;
  for (int step = 0; step < 100'000 && !(client_done && server_done); ++step) {
    if (!client_done) {
      sanstls::Result r = client.do_handshake();
      INFO("client step " << step << ": " << sanstls::status_name(r.status)
                          << (r.error ? " " + r.error->message : std::string()));
      REQUIRE((r.status == Status::done || r.status == Status::want_read));
      client_done = r.status == Status::done;
    }
    to_server += c_out.pending();
    carry(c_out, s_in, how);
    to_server -= c_out.pending();
    if (!server_done) {
      sanstls::Result r = server.do_handshake();
      INFO("server step " << step << ": " << sanstls::status_name(r.status)
                          << (r.error ? " " + r.error->message : std::string()));
      REQUIRE((r.status == Status::done || r.status == Status::want_read));
      server_done = r.status == Status::done;
    }
    to_client += s_out.pending();
    carry(s_out, c_in, how);
    to_client -= s_out.pending();
  }
  REQUIRE(client_done);
  REQUIRE(server_done);
  CHECK(client.is_handshake_complete());
  CHECK(server.is_handshake_complete());
  CHECK(to_server > 0);
  CHECK(to_client > 400);  // the server's flight carries its certificate
  CHECK(client.do_handshake().status == Status::done);

  // Application data travels through the same handles, both ways.
  sanstls::Result w = client.write(std::string_view("ping"));
  REQUIRE(w.status == Status::done);
  CHECK(w.bytes == 4);
  CHECK(c_out.pending() > 4);  // an encrypted record, larger than the text
  std::string at_server;
  for (int step = 0; step < 10'000 && c_out.pending() != 0; ++step) {
    carry(c_out, s_in, how);
    sanstls::ReadResult r = server.read(100);
    REQUIRE((r.status == Status::done || r.status == Status::want_read));
    at_server += r.data;
  }
  CHECK(at_server == "ping");
  CHECK(s_in.pending() == 0);  // BoringSSL consumed every byte it was given

  const std::string reply = test::pattern(50'000, 4);  // several records
  REQUIRE(server.write(reply).status == Status::done);
  std::string at_client;
  for (int step = 0; step < 1'000'000 && at_client.size() < reply.size(); ++step) {
    carry(s_out, c_in, how);
    sanstls::ReadResult r = client.read(16384);
    REQUIRE((r.status == Status::done || r.status == Status::want_read));
    at_client += r.data;
  }
  CHECK(at_client.size() == reply.size());
  CHECK((at_client == reply));
}

TEST_CASE("an Object keeps its MemoryBIOs alive after the caller dropped its handles", "[memory_bio][engine]") {
  sanstls::Context client_ctx = test::client_context();
  std::optional<sanstls::Object> client;
  {
    MemoryBIO incoming, outgoing;
    client.emplace(client_ctx.wrap_bio(incoming, outgoing, false, "localhost"));
  }
  REQUIRE(client->do_handshake().status == Status::want_read);
  MemoryBIO outgoing = client->outgoing();  // a new handle to the same buffer
  CHECK(outgoing.pending() > 0);
  CHECK(outgoing.read(1) == "\x16");
}

TEST_CASE("a drained incoming buffer gives its memory back when BoringSSL read it", "[memory_bio][engine][memory]") {
  sanstls::Context client_ctx = test::client_context();
  sanstls::Context server_ctx = test::server_context();
  test::Pair pair = test::make_pair(client_ctx, server_ctx);
  sanstls::testing::Pipe pipe(pair.client, pair.server);
  REQUIRE(pipe.handshake());

  MemoryBIO c_out = pair.client.outgoing();
  MemoryBIO s_in = pair.server.incoming();
  const std::string data = test::pattern(1 << 20, 12);
  REQUIRE(pair.client.write(data).status == Status::done);
  REQUIRE(c_out.pending() > data.size());
  s_in.write(c_out.read());
  CHECK(c_out.capacity() == 0);
  CHECK(s_in.capacity() >= s_in.pending());

  std::string got;
  for (;;) {
    sanstls::ReadResult r = pair.server.read(16384);
    if (r.status != Status::done) {
      CHECK(r.status == Status::want_read);
      break;
    }
    got += r.data;
    REQUIRE(s_in.capacity() >= s_in.pending());
  }
  CHECK((got == data));
  CHECK(s_in.pending() == 0);
  CHECK(s_in.capacity() == 0);
}

TEST_CASE("write_eof on the client's incoming before the handshake completes is an EOF error",
          "[memory_bio][engine][eof]") {
  sanstls::Context client_ctx = test::client_context();
  sanstls::Context server_ctx = test::server_context();
  MemoryBIO c_in, c_out, s_in, s_out;
  sanstls::Object client = client_ctx.wrap_bio(c_in, c_out, false, "localhost");
  sanstls::Object server = server_ctx.wrap_bio(s_in, s_out, true);
  REQUIRE(client.do_handshake().status == Status::want_read);

  SECTION("before the server sent anything") {
    c_in.write_eof();
  }
  SECTION("after part of the server's first flight") {
    s_in.write(c_out.read());
    REQUIRE(server.do_handshake().status == Status::want_read);
    REQUIRE(s_out.pending() > 100);
    c_in.write(s_out.read(s_out.pending() / 2));
    REQUIRE(client.do_handshake().status == Status::want_read);
    c_in.write_eof();
  }
  SECTION("in the middle of a record header") {
    s_in.write(c_out.read());
    REQUIRE(server.do_handshake().status == Status::want_read);
    c_in.write(s_out.read(3));
    c_in.write_eof();
  }

  sanstls::Result r = client.do_handshake();
  REQUIRE(r.status == Status::error);
  REQUIRE(r.error != nullptr);
  CHECK(r.error->kind == sanstls::ErrorKind::eof);
  CHECK(r.error->message == "EOF occurred in violation of protocol");
  CHECK(c_in.eof());
  CHECK_FALSE(client.is_handshake_complete());
  CHECK_THROWS_AS(r.throw_if_error(), sanstls::SSLEOFError);

  // Sticky: every later call reports the same error.
  sanstls::Result again = client.do_handshake();
  CHECK(again.status == Status::error);
  CHECK(again.error == r.error);
  CHECK(client.error() == r.error);
}

// Regression test: a call that removes nothing -- consume(0), or
// read()/read_into() on an empty buffer -- used to run
// MemoryBIO::State::removed()'s "drained" path, which forgot the outstanding
// prepare() (commit() then threw out_of_range) and freed the memory the
// prepared span points into. memory_bio.hpp
// lets reads and consume() run while the space is being filled and keeps
// the span valid until commit(), prepare(), write() or write_eof().
TEST_CASE("prepared space survives calls that remove nothing (consume(0), reads of an empty buffer)",
          "[memory_bio][zero_copy]") {
  const int call = GENERATE(0, 1, 2, 3);
  INFO("no-op call " << call << " (0 consume(0), 1 read(), 2 read(0), 3 read_into)");
  MemoryBIO bio;
  std::span<std::byte> space = bio.prepare(10'000);
  const std::size_t capacity = bio.capacity();
  copy_text("abc", space);  // filled before the no-op call, so the test itself stays safe
  std::array<std::byte, 8> sink{};
  switch (call) {
    case 0: bio.consume(0); break;
    case 1: CHECK(bio.read().empty()); break;
    case 2: CHECK(bio.read(0).empty()); break;
    default: CHECK(bio.read_into(sink) == 0); break;
  }
  CHECK(bio.capacity() == capacity);  // the prepared space was not freed
  CHECK_NOTHROW(bio.commit(3));
  CHECK(bio.read() == "abc");
}

// Found by the memory_bio fuzz target: an empty write() also cancels
// prepared space, as documented, and a buffer with nothing in it is given
// back whichever call left it empty (commit(0), an empty write, write_eof).
TEST_CASE("nothing pending and nothing prepared means no heap, whatever the last call",
          "[memory_bio][memory]") {
  const int call = GENERATE(0, 1, 2);
  INFO("call " << call << " (0 commit(0), 1 empty write, 2 write_eof)");
  MemoryBIO bio;
  std::span<std::byte> space = bio.prepare(5000);
  CHECK(space.size() >= 5000);
  CHECK(bio.capacity() >= 5000);
  switch (call) {
    case 0: bio.commit(0); break;
    case 1: CHECK(bio.write(std::string_view()) == 0); break;
    default: bio.write_eof(); break;
  }
  CHECK(bio.pending() == 0);
  CHECK(bio.capacity() == 0);
  if (call == 1) {
    // The prepared space is gone: committing into it is refused.
    CHECK_THROWS_AS(bio.commit(1), std::out_of_range);
  }
}
