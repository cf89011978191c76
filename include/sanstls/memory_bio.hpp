// sanstls/memory_bio.hpp: an in-memory byte queue between a transport and
// an Object, as Python's ssl.MemoryBIO.
//
// Example:
//   sanstls::MemoryBIO bio;
//   bio.write(std::string_view("hello, "));
//   bio.write(std::string_view("world"));
//   std::string first = bio.read(5);        // "hello"
//   bio.write_eof();                        // no more writes allowed
//   std::string rest = bio.read();          // ", world"
//   bool finished = bio.eof();              // true: EOF written, all read
//   (void)first, (void)rest, (void)finished;
//   // Zero-copy: receive straight into the buffer, send straight from it.
//   sanstls::MemoryBIO in;
//   std::span<std::byte> space = in.prepare(4096);
//   std::size_t got = 3;                    // e.g. recv(fd, space.data(), ...)
//   std::memcpy(space.data(), "abc", got);
//   in.commit(got);
//   std::span<const std::byte> ready = in.readable();  // 3 bytes
//   in.consume(ready.size());
//   // Full duplex: take the bytes out to send them while more are written.
//   sanstls::MemoryBIO out;
//   out.write(std::string_view("record one"));
//   sanstls::MemoryBIO::Block sending = out.take_readable();  // no copy
//   out.write(std::string_view("record two"));  // fresh memory: sending stays
//   sending.consume(4);                         // a short send: 6 bytes left
//   (void)sending.bytes();
//
// A MemoryBIO is a handle: copies share one buffer, exactly as the caller and
// the Object share a Python MemoryBIO.
//
// Threads: one buffer is used by one thread at a time, counting every copy
// of its handle and the Object that reads or writes it: a transport that
// fills incoming and the Object that reads it take turns, on one thread or
// handing over through a lock. The space prepare() returns may be filled
// elsewhere (by the kernel, or a completion thread) while the buffer is in
// use, as long as commit() comes after that fill has finished and is seen
// by the buffer's thread. Different buffers share nothing: a drained
// buffer's memory goes to a cache of the thread that drained it
// (capacity()), freed when that thread exits.
#ifndef SANSTLS_MEMORY_BIO_HPP
#define SANSTLS_MEMORY_BIO_HPP

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <sanstls/bytes.hpp>

namespace sanstls {

// MemoryBIO is one direction of a connection's bytes: the Object writes
// its outgoing one and the transport drains it; the transport fills
// its incoming one and the Object reads it.
class MemoryBIO {
 public:
  // MemoryBIO creates a new, empty buffer.
  MemoryBIO();

  // pending returns the number of bytes buffered and not yet read.
  std::size_t pending() const noexcept;

  // eof returns true once write_eof() was called and every buffered byte has
  // been read, as Python's MemoryBIO.eof.
  bool eof() const noexcept;

  // eof_written returns true once write_eof() was called, even if bytes are
  // still buffered.
  bool eof_written() const noexcept;

  // read removes and returns up to |n| bytes; by default all of them. An
  // empty result means the buffer is empty (see eof() for end of stream).
  std::string read(std::size_t n = static_cast<std::size_t>(-1));

  // read_into removes up to |buffer|.size() bytes into |buffer| and returns
  // how many it copied.
  std::size_t read_into(std::span<std::byte> buffer) noexcept;

  // write appends |data| and returns data.size(): a MemoryBIO always takes
  // everything. Throws SSLError("cannot write() after write_eof()") once
  // write_eof() was called, as Python does; nothing is written then.
  std::size_t write(std::span<const std::byte> data);
  // write, as above, for |data| as text.
  std::size_t write(std::string_view data) { return write(as_bytes(data)); }

  // write_eof marks the end of the stream. Reads still return what is
  // buffered; eof() becomes true when that is drained. Calling it again is
  // harmless.
  void write_eof() noexcept;

  // readable returns the buffered bytes without removing them. The span
  // stays valid until the next write, prepare, read or consume. A transport
  // that sends while the Object may still write (a completion-based socket
  // doing reads and writes at once) takes them out with take_readable().
  std::span<const std::byte> readable() const noexcept;

  class Block;

  // take_readable removes every buffered byte and returns them in a Block
  // that owns their memory. Nothing is copied: the buffer itself moves into
  // the Block, and later writes go to other memory, so the Block's bytes
  // stay where they are however much is written after. This is how an
  // asynchronous send (asio, libuv, io_uring) goes straight from the
  // buffer while the Object keeps writing records behind it. The one copy
  // is when prepare()d space is still being filled: that space stays, and
  // the buffered bytes are copied out instead. Empty when nothing is
  // buffered.
  Block take_readable();

  // consume removes the first |n| readable bytes. Throws std::out_of_range,
  // naming pending(), when |n| is larger than pending(); nothing is removed.
  void consume(std::size_t n);

  // prepare returns |n| bytes of writable space at the end of the buffer,
  // so a transport can receive straight into it; commit(k) then makes the
  // first k of them readable. Reads and consume() may run while the space
  // is being filled; the span stays valid until commit(), the next
  // prepare(), a write() (which cancels it) or write_eof(). Throws SSLError
  // after write_eof(), as write().
  std::span<std::byte> prepare(std::size_t n);

  // commit makes |n| bytes of the space returned by the last prepare()
  // readable. Throws std::out_of_range, naming the prepared size, when |n| is
  // larger than that space; throws SSLError after write_eof().
  void commit(std::size_t n);

  // capacity returns the bytes of heap the buffer holds right now: 0 once
  // drained. A drained buffer goes to a small per-thread cache that the next
  // buffer is taken from, so an idle connection holds no buffer memory and a
  // busy one does not call malloc per record.
  std::size_t capacity() const noexcept;

  // shares_buffer_with returns true when |other| is a copy of this handle.
  bool shares_buffer_with(const MemoryBIO& other) const noexcept {
    return state_ == other.state_;
  }

 private:
  struct State;
  friend struct MemoryBIOAccess;  // the engine's bridge to BoringSSL's BIO
  std::shared_ptr<State> state_;
};

// MemoryBIO::Block is bytes taken out of a MemoryBIO by take_readable(): it
// owns their memory, which goes back to the thread's buffer cache when the
// Block is destroyed (on any thread). Move-only. A transport sends
// bytes(), calls consume() with what a short send took, and sends the rest.
class MemoryBIO::Block {
 public:
  // Block creates an empty block.
  Block() noexcept = default;
  // Block takes |other|'s bytes, leaving it empty.
  Block(Block&& other) noexcept { swap(other); }
  // operator= takes |other|'s bytes and frees this block's.
  Block& operator=(Block&& other) noexcept {
    Block(std::move(other)).swap(*this);
    return *this;
  }
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  // ~Block gives the memory back to this thread's buffer cache.
  ~Block();

  // bytes returns the bytes not yet consumed. They do not move until the
  // Block is destroyed or assigned to.
  std::span<const std::byte> bytes() const noexcept { return {data_ + begin_, end_ - begin_}; }
  // size returns bytes().size().
  std::size_t size() const noexcept { return end_ - begin_; }
  // empty returns true when every byte was consumed, or none was taken.
  bool empty() const noexcept { return begin_ == end_; }

  // consume drops the first |n| bytes, once they are sent. Throws
  // std::out_of_range, naming size(), when |n| is larger; nothing is
  // dropped then.
  void consume(std::size_t n);

 private:
  friend class MemoryBIO;
  void swap(Block& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
    std::swap(begin_, other.begin_);
    std::swap(end_, other.end_);
  }
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace sanstls

#endif  // SANSTLS_MEMORY_BIO_HPP
