#include <sanstls/memory_bio.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

#include "internal.hpp"

namespace sanstls {

namespace {

constexpr std::size_t kMinimumCapacity = 1024;

// BufferCache keeps a few buffers that drained MemoryBIOs gave back, per
// thread. A drained MemoryBIO holds no heap at all, so an idle connection
// costs only BoringSSL's own state, while a busy one takes the same buffer
// back from the cache for its next record instead of calling malloc. It is
// bounded (kSlots buffers of at most kMaxCached bytes) and needs no lock: a
// buffer is plain memory, whichever thread frees it.
class BufferCache {
 public:
  static constexpr std::size_t kSlots = 4;
  static constexpr std::size_t kMaxCached = 64 * 1024;

  // Trivially constructed and destroyed, so that a thread_local needs no
  // guard; the buffers are freed at thread exit by a Reaper (give()).
  constexpr BufferCache() = default;
  BufferCache(const BufferCache&) = delete;
  BufferCache& operator=(const BufferCache&) = delete;

  // release_all frees what is kept; later buffers are freed at once.
  void release_all() noexcept {
    for (std::size_t i = 0; i < count_; ++i) std::free(slots_[i].data);
    count_ = 0;
    closed_ = true;
  }

  // take returns the smallest cached buffer of at least |min| bytes (its
  // size in |capacity|), or null.
  std::byte* take(std::size_t min, std::size_t& capacity) noexcept {
    std::size_t best = count_;
    for (std::size_t i = 0; i < count_; ++i) {
      if (slots_[i].capacity >= min &&
          (best == count_ || slots_[i].capacity < slots_[best].capacity)) {
        best = i;
      }
    }
    if (best == count_) return nullptr;
    std::byte* data = slots_[best].data;
    capacity = slots_[best].capacity;
    slots_[best] = slots_[--count_];
    return data;
  }

  // give keeps |data|, evicting the smallest cached buffer when full if
  // |data| is larger: a large buffer saves a large copy-and-malloc later.
  void give(std::byte* data, std::size_t capacity) noexcept {
    if (!armed_) arm();
    if (capacity > kMaxCached || closed_) {
      std::free(data);
      return;
    }
    if (count_ < kSlots) {
      slots_[count_++] = Slot{data, capacity};
      return;
    }
    std::size_t smallest = 0;
    for (std::size_t i = 1; i < count_; ++i) {
      if (slots_[i].capacity < slots_[smallest].capacity) smallest = i;
    }
    if (slots_[smallest].capacity < capacity) {
      std::free(slots_[smallest].data);
      slots_[smallest] = Slot{data, capacity};
    } else {
      std::free(data);
    }
  }

 private:
  struct Slot {
    std::byte* data;
    std::size_t capacity;
  };
  // arm makes this thread free the cache when it exits: the first buffer
  // given registers a Reaper, once per thread.
  void arm() noexcept;

  Slot slots_[kSlots] = {};
  std::size_t count_ = 0;
  bool armed_ = false;
  bool closed_ = false;  // the thread is exiting: keep nothing
};

// initial-exec, and with neither constructor nor destructor: read at a
// fixed offset from the thread pointer, where the general-dynamic model of
// a shared library calls __tls_get_addr on every access (and again for the
// guard of a dynamically initialised thread_local): two calls per record,
// about 150 instructions at 64 bytes (callgrind). It takes 80 bytes of the
// static TLS that glibc keeps spare for libraries loaded with dlopen.
[[gnu::tls_model("initial-exec")]] constinit thread_local BufferCache buffer_cache;

struct Reaper {
  ~Reaper() { buffer_cache.release_all(); }
};

void BufferCache::arm() noexcept {
  armed_ = true;
  thread_local Reaper reaper;
  (void)reaper;
}

}  // namespace

// State is a single contiguous buffer with a read offset. Reads only move
// the offset; the unread bytes are moved to the front only when the tail is
// short and they fill at most half of the buffer, so every move frees at
// least as much space as it copies and writes stay amortised O(1).
struct MemoryBIO::State {
  std::byte* data = nullptr;
  std::size_t capacity = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t prepared = 0;  // bytes handed out by the last prepare()
  bool eof_written = false;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { release(); }

  // release hands the buffer to the thread's cache, which keeps or frees it.
  void release() noexcept {
    if (data != nullptr) buffer_cache.give(data, capacity);
  }

  std::size_t size() const noexcept { return end - begin; }

  // reserve makes |n| bytes writable at |end|.
  void reserve(std::size_t n) {
    if (capacity - end >= n) return;
    const std::size_t live = size();
    if (live + n <= capacity && live <= capacity / 2) {
      std::memmove(data, data + begin, live);
      begin = 0;
      end = live;
      return;
    }
    if (n > std::numeric_limits<std::size_t>::max() / 2 - live) throw std::bad_alloc();
    std::size_t new_capacity = std::max({capacity * 2, live + n, kMinimumCapacity});
    std::byte* fresh = buffer_cache.take(new_capacity, new_capacity);
    if (fresh == nullptr) fresh = static_cast<std::byte*>(std::malloc(new_capacity));
    if (fresh == nullptr) throw std::bad_alloc();
    if (live != 0) std::memcpy(fresh, data + begin, live);
    release();
    data = fresh;
    capacity = new_capacity;
    begin = 0;
    end = live;
  }

  // removed is called after bytes were taken from the front.
  void removed(std::size_t n) noexcept {
    if (n == 0) return;
    begin += n;
    release_if_drained();
  }

  // release_if_drained gives the buffer back once nothing is pending. Space
  // handed out by prepare() may still be being filled (a completion-based
  // transport writes into it while the engine reads): it stays, where it
  // is, until commit(), write() or write_eof() ends it.
  void release_if_drained() noexcept {
    if (begin != end || prepared != 0 || data == nullptr) return;
    begin = end = 0;
    release();
    data = nullptr;
    capacity = 0;
  }

  std::size_t take(std::byte* out, std::size_t n) noexcept {
    n = std::min(n, size());
    if (n != 0) std::memcpy(out, data + begin, n);
    removed(n);
    return n;
  }

  void append(const std::byte* in, std::size_t n) {
    prepared = 0;  // any write() cancels prepared space, an empty one too
    if (n == 0) {
      release_if_drained();
      return;
    }
    reserve(n);
    std::memcpy(data + end, in, n);
    end += n;
  }

  void check_writable() const {
    if (eof_written) {
      throw SSLError(plain_error(ErrorKind::ssl, "cannot write() after write_eof()"));
    }
  }
};

MemoryBIO::MemoryBIO() : state_(std::make_shared<State>()) {}

std::size_t MemoryBIO::pending() const noexcept { return state_->size(); }

bool MemoryBIO::eof() const noexcept { return state_->eof_written && state_->size() == 0; }

bool MemoryBIO::eof_written() const noexcept { return state_->eof_written; }

std::string MemoryBIO::read(std::size_t n) {
  n = std::min(n, state_->size());
  std::string out(n, '\0');
  state_->take(reinterpret_cast<std::byte*>(out.data()), n);
  return out;
}

std::size_t MemoryBIO::read_into(std::span<std::byte> buffer) noexcept {
  return state_->take(buffer.data(), buffer.size());
}

std::size_t MemoryBIO::write(std::span<const std::byte> data) {
  state_->check_writable();
  state_->append(data.data(), data.size());
  return data.size();
}

void MemoryBIO::write_eof() noexcept {
  state_->eof_written = true;
  state_->prepared = 0;
  state_->release_if_drained();
}

std::span<const std::byte> MemoryBIO::readable() const noexcept {
  return {state_->data + state_->begin, state_->size()};
}

void MemoryBIO::consume(std::size_t n) {
  if (n > state_->size()) {
    throw std::out_of_range("MemoryBIO::consume(" + std::to_string(n) + "): only " +
                            std::to_string(state_->size()) + " bytes are pending");
  }
  state_->removed(n);
}

std::span<std::byte> MemoryBIO::prepare(std::size_t n) {
  state_->check_writable();
  state_->reserve(n);
  state_->prepared = n;
  return {state_->data + state_->end, n};
}

void MemoryBIO::commit(std::size_t n) {
  state_->check_writable();
  if (n > state_->prepared) {
    throw std::out_of_range("MemoryBIO::commit(" + std::to_string(n) + "): only " +
                            std::to_string(state_->prepared) + " bytes were prepared");
  }
  state_->end += n;
  state_->prepared = 0;
  state_->release_if_drained();  // commit(0) of space nobody filled
}

std::size_t MemoryBIO::capacity() const noexcept { return state_->capacity; }

MemoryBIO::Block MemoryBIO::take_readable() {
  State& s = *state_;
  Block block;
  const std::size_t n = s.size();
  if (n == 0) return block;
  if (s.prepared != 0) {
    // The space after end is being filled by someone else: the buffer stays,
    // and only the readable bytes leave, copied.
    std::size_t capacity = std::max(n, kMinimumCapacity);
    std::byte* copy = buffer_cache.take(capacity, capacity);
    if (copy == nullptr) copy = static_cast<std::byte*>(std::malloc(capacity));
    if (copy == nullptr) throw std::bad_alloc();
    std::memcpy(copy, s.data + s.begin, n);
    block.data_ = copy;
    block.capacity_ = capacity;
    block.end_ = n;
    s.begin = s.end;
    return block;
  }
  block.data_ = s.data;
  block.capacity_ = s.capacity;
  block.begin_ = s.begin;
  block.end_ = s.end;
  s.data = nullptr;
  s.capacity = 0;
  s.begin = s.end = 0;
  return block;
}

MemoryBIO::Block::~Block() {
  if (data_ != nullptr) buffer_cache.give(data_, capacity_);
}

void MemoryBIO::Block::consume(std::size_t n) {
  if (n > size()) {
    throw std::out_of_range("MemoryBIO::Block::consume(" + std::to_string(n) + "): only " +
                            std::to_string(size()) + " bytes are left");
  }
  begin_ += n;
}

// The BIO bridge. BoringSSL calls these for every record it reads or
// writes; the BIO's data pointer is a heap-allocated shared_ptr so the
// buffer outlives any handle the caller drops.
namespace {

using StatePtr = std::shared_ptr<MemoryBIOAccess::State>;

}  // namespace

namespace {

struct MemoryBIOBridge {
  static MemoryBIOAccess::State* state(BIO* bio) noexcept {
    return static_cast<StatePtr*>(BIO_get_data(bio))->get();
  }

  static int read(BIO* bio, char* out, int len) {
    BIO_clear_retry_flags(bio);
    MemoryBIOAccess::State* s = state(bio);
    if (len <= 0) return 0;
    if (s->size() == 0) {
      if (s->eof_written) return 0;
      BIO_set_retry_read(bio);
      return -1;
    }
    return static_cast<int>(s->take(reinterpret_cast<std::byte*>(out), static_cast<std::size_t>(len)));
  }

  static int write(BIO* bio, const char* in, int len) {
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    try {
      // The outgoing buffer belongs to us, not to the peer: EOF on it would
      // only mean the caller misused it, and TLS must still be able to
      // queue its alert, so writes are accepted regardless.
      state(bio)->append(reinterpret_cast<const std::byte*>(in), static_cast<std::size_t>(len));
    } catch (const std::bad_alloc&) {
      OPENSSL_PUT_ERROR(SSL, ERR_R_MALLOC_FAILURE);
      return -1;
    }
    return len;
  }

  static long ctrl(BIO* bio, int cmd, long, void*) {
    MemoryBIOAccess::State* s = state(bio);
    switch (cmd) {
      case BIO_CTRL_PENDING:
        return static_cast<long>(std::min<std::size_t>(s->size(), std::numeric_limits<long>::max()));
      case BIO_CTRL_WPENDING:
        return 0;
      case BIO_CTRL_EOF:
        return s->eof_written && s->size() == 0;
      case BIO_CTRL_FLUSH:
        return 1;
      default:
        return 0;
    }
  }

  static int destroy(BIO* bio) {
    delete static_cast<StatePtr*>(BIO_get_data(bio));
    BIO_set_data(bio, nullptr);
    return 1;
  }

  static const BIO_METHOD* method() {
    static const BIO_METHOD* const m = [] {
      BIO_METHOD* meth = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "sanstls MemoryBIO");
      if (meth == nullptr) return static_cast<BIO_METHOD*>(nullptr);
      BIO_meth_set_read(meth, &read);
      BIO_meth_set_write(meth, &write);
      BIO_meth_set_ctrl(meth, &ctrl);
      BIO_meth_set_destroy(meth, &destroy);
      return meth;
    }();
    return m;
  }
};

}  // namespace

bssl::UniquePtr<BIO> MemoryBIOAccess::new_bio(const MemoryBIO& bio) {
  const BIO_METHOD* method = MemoryBIOBridge::method();
  if (method == nullptr) return nullptr;
  bssl::UniquePtr<BIO> b(BIO_new(method));
  if (!b) return nullptr;
  BIO_set_data(b.get(), new StatePtr(bio.state_));
  BIO_set_init(b.get(), 1);
  return b;
}

}  // namespace sanstls
