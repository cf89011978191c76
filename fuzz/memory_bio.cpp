// fuzz/memory_bio.cpp: MemoryBIO checked against a std::string model.
//
// Input: a sequence of operations, one byte each plus their arguments.
// Every operation runs on the MemoryBIO (through one of two handles that
// share it) and on the model; any divergence in data, sizes, EOF state or
// exceptions is a real bug and abort()s.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sanstls/error.hpp>
#include <sanstls/memory_bio.hpp>

#include "fuzz_support.hpp"

namespace {

[[noreturn]] void diverged(const char* what) {
  std::fprintf(stderr, "memory_bio: MemoryBIO and model diverge: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) diverged(what);
}

// Model is what a MemoryBIO must behave as: a string, an EOF flag and the
// size of the space the last prepare() handed out (with what was filled in).
struct Model {
  std::string data;
  bool eof_written = false;
  bool prepared = false;   // a prepare() is outstanding
  std::size_t prepared_size = 0;
  std::string filled;      // what the fuzzer wrote into the prepared space

  std::string take(std::size_t n) {
    std::string out = data.substr(0, n);
    data.erase(0, out.size());
    return out;
  }
};

using namespace sanstls_fuzz::memory_bio_ops;

// expect_throw runs |f| and checks that it throws exactly when |should|,
// with exception type E.
template <class E, class F>
void expect_throw(bool should, F f, const char* what) {
  bool threw = false;
  try {
    f();
  } catch (const E&) {
    threw = true;
  }
  check(threw == should, what);
}

void check_state(const sanstls::MemoryBIO& bio, const Model& m) {
  check(bio.pending() == m.data.size(), "pending");
  check(bio.eof_written() == m.eof_written, "eof_written");
  check(bio.eof() == (m.eof_written && m.data.empty()), "eof");
  std::span<const std::byte> view = bio.readable();
  check(view.size() == m.data.size(), "readable size");
  check(sanstls::as_string_view(view) == m.data, "readable bytes");
  check(bio.capacity() >= bio.pending(), "capacity < pending");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sanstls_fuzz::Input input(data, size);
  sanstls::MemoryBIO first;
  sanstls::MemoryBIO second = first;
  check(first.shares_buffer_with(second), "copies share");
  sanstls::MemoryBIO* bio = &first;
  Model m;
  std::span<std::byte> space;

  while (!input.empty()) {
    const std::uint8_t op = input.byte() % op_count;
    switch (op) {
      case op_write:
      case op_write_string: {
        std::string_view bytes = input.take(input.byte());
        auto write = [&] {
          std::size_t n = op == op_write ? bio->write(sanstls::as_bytes(bytes)) : bio->write(bytes);
          check(n == bytes.size(), "write returns size");
        };
        expect_throw<sanstls::SSLError>(m.eof_written, write, "write after write_eof throws");
        if (!m.eof_written) {
          m.data += bytes;
          // A write cancels the prepared space, an empty one too.
          m.prepared = false;
        }
        break;
      }
      case op_read_all: {
        std::string got = bio->read();
        check(got == m.take(std::string::npos), "read()");
        break;
      }
      case op_read_n: {
        std::size_t n = input.u16();
        std::string got = bio->read(n);
        check(got == m.take(n), "read(n)");
        break;
      }
      case op_read_into: {
        std::string buffer(input.byte(), '\xAA');
        std::size_t n = bio->read_into(std::as_writable_bytes(std::span<char>(buffer)));
        std::string want = m.take(buffer.size());
        check(n == want.size(), "read_into count");
        check(buffer.substr(0, n) == want, "read_into bytes");
        check(buffer.find_first_not_of('\xAA', n) == std::string::npos, "read_into wrote past count");
        break;
      }
      case op_readable_consume: {
        std::size_t n = input.byte();
        const bool too_many = n > m.data.size();
        expect_throw<std::out_of_range>(too_many, [&] { bio->consume(n); }, "consume bounds");
        if (!too_many) m.take(n);
        break;
      }
      case op_prepare: {
        std::size_t n = static_cast<std::size_t>(input.byte()) * 17;
        expect_throw<sanstls::SSLError>(m.eof_written, [&] { space = bio->prepare(n); },
                                        "prepare after write_eof throws");
        if (!m.eof_written) {
          check(space.size() == n, "prepare size");
          m.prepared = true;
          m.prepared_size = n;
          m.filled.clear();
        }
        break;
      }
      case op_fill: {
        // Fill more of the prepared space (reads may have run meanwhile).
        std::string_view bytes = input.take(input.byte());
        if (!m.prepared) break;
        std::size_t room = m.prepared_size - m.filled.size();
        bytes = bytes.substr(0, room);
        if (!bytes.empty()) std::memcpy(space.data() + m.filled.size(), bytes.data(), bytes.size());
        m.filled += bytes;
        break;
      }
      case op_commit: {
        std::size_t n = input.byte();
        if (m.eof_written) {
          expect_throw<sanstls::SSLError>(true, [&] { bio->commit(n); }, "commit after write_eof throws");
          break;
        }
        const std::size_t limit = m.prepared ? m.prepared_size : 0;
        const bool too_many = n > limit;
        expect_throw<std::out_of_range>(too_many, [&] { bio->commit(n); }, "commit bounds");
        if (!too_many) {
          // Bytes of the space nobody filled are unspecified: compare only
          // the filled ones, then adopt what the buffer holds.
          std::string_view after = sanstls::as_string_view(bio->readable()).substr(m.data.size());
          check(after.size() == n, "commit size");
          std::size_t known = n < m.filled.size() ? n : m.filled.size();
          check(after.substr(0, known) == std::string_view(m.filled).substr(0, known), "commit bytes");
          m.data += after;
          m.prepared = false;
        }
        break;
      }
      case op_write_eof:
        bio->write_eof();
        m.eof_written = true;
        m.prepared = false;
        break;
      case op_copy_handle:
        bio = bio == &first ? &second : &first;
        break;
      default:
        break;
    }
    check_state(*bio, m);
    if (m.data.empty() && !m.prepared) {
      // "capacity: 0 once drained": with nothing buffered and no prepared
      // space outstanding, whatever the last operation was, the heap is
      // given back.
      check(bio->capacity() == 0, "capacity once drained");
    }
  }
  return 0;
}
