#include <sanstls/testing/pipe.hpp>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

namespace sanstls::testing {

Transport::Transport(std::size_t max_chunk, bool random, std::uint64_t seed)
    : max_chunk_(max_chunk), random_(random), rng_(seed) {}

Transport Transport::everything() { return Transport(static_cast<std::size_t>(-1), false, 0); }

Transport Transport::byte_at_a_time() { return Transport(1, false, 0); }

Transport Transport::random_chunks(std::uint64_t seed, std::size_t max_chunk) {
  if (max_chunk == 0) throw std::invalid_argument("random_chunks: max_chunk must be at least 1");
  return Transport(max_chunk, true, seed);
}

Transport& Transport::truncate_after(std::uint64_t bytes) {
  truncate_at_ = bytes;
  return *this;
}

Transport& Transport::flip_byte(std::uint64_t offset, std::uint8_t mask) {
  flip_at_ = offset;
  flip_mask_ = mask;
  return *this;
}

std::size_t Transport::quota() {
  if (!random_) return max_chunk_;
  return std::uniform_int_distribution<std::size_t>(1, max_chunk_)(rng_);
}

bool Transport::deliver(MemoryBIO& from, MemoryBIO& to) {
  if (eof_sent_) {
    // The stream is cut: whatever the sender still writes is lost, as on
    // a dead connection.
    bool had = from.pending() != 0;
    from.consume(from.pending());
    return had;
  }
  std::size_t n = std::min(from.pending(), quota());
  if (truncate_at_) n = static_cast<std::size_t>(std::min<std::uint64_t>(n, *truncate_at_ - delivered_));
  if (n != 0) {
    std::span<const std::byte> chunk = from.readable().first(n);
    if (flip_at_ && *flip_at_ >= delivered_ && *flip_at_ < delivered_ + n) {
      std::span<std::byte> space = to.prepare(n);
      std::copy(chunk.begin(), chunk.end(), space.begin());
      space[static_cast<std::size_t>(*flip_at_ - delivered_)] ^= static_cast<std::byte>(flip_mask_);
      to.commit(n);
    } else {
      to.write(chunk);
    }
    from.consume(n);
    delivered_ += n;
  }
  if (truncate_at_ && delivered_ >= *truncate_at_) {
    to.write_eof();
    eof_sent_ = true;
    return true;
  }
  return n != 0;
}

Pipe::Pipe(Object& client, Object& server, Transport to_server, Transport to_client)
    : client_{&client, client.incoming(), client.outgoing(), {Status::want_read, 0, nullptr}, {},
              std::move(to_client)},
      server_{&server, server.incoming(), server.outgoing(), {Status::want_read, 0, nullptr}, {},
              std::move(to_server)} {}

bool Pipe::drive(End& e) {
  Object& obj = *e.object;
  if (obj.error()) return false;
  const std::size_t in_before = e.incoming.pending();
  const std::size_t out_before = e.outgoing.pending();
  const std::size_t received_before = e.received.size();
  const Status status_before = e.last.status;

  if (!obj.is_handshake_complete()) {
    e.last = obj.do_handshake();
  }
  if (obj.is_handshake_complete() && e.last.status != Status::error) {
    std::array<std::byte, 16384> buffer;
    for (;;) {
      Result r = obj.read_into(buffer);
      if (r.status == Status::done) {
        e.received.append(as_string_view(std::span(buffer).first(r.bytes)));
        e.last = std::move(r);
        continue;
      }
      e.last = std::move(r);
      break;
    }
  }
  return e.incoming.pending() != in_before || e.outgoing.pending() != out_before ||
         e.received.size() != received_before || e.last.status != status_before;
}

void Pipe::run() {
  // Each productive round consumes or produces at least one byte, so a
  // connection that loops without doing either is a bug worth reporting.
  constexpr std::size_t kMaxIdleRounds = 3;
  std::size_t idle = 0;
  for (std::size_t round = 0;; ++round) {
    bool progress = drive(client_);
    progress |= server_.to_me.deliver(client_.outgoing, server_.incoming);
    progress |= drive(server_);
    progress |= client_.to_me.deliver(server_.outgoing, client_.incoming);
    if (progress) {
      idle = 0;
    } else if (++idle >= kMaxIdleRounds) {
      return;
    }
    if (round > 500'000'000) throw std::runtime_error("Pipe::run: the connection never went quiet");
  }
}

bool Pipe::handshake() {
  run();
  return client_.object->is_handshake_complete() && server_.object->is_handshake_complete() &&
         !client_.object->error() && !server_.object->error();
}

Result Pipe::send(Side from, std::string_view data) {
  Result r = end(from).object->write(data);
  run();
  return r;
}

const Result& Pipe::last(Side side) const noexcept { return end(side).last; }

const std::string& Pipe::received(Side side) const noexcept { return end(side).received; }

std::string Pipe::take_received(Side side) { return std::exchange(end(side).received, {}); }

Transport& Pipe::transport(Side to) noexcept { return end(to).to_me; }

}  // namespace sanstls::testing
