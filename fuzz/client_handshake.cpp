// fuzz/client_handshake.cpp: a client Object fed the input as the server's
// bytes.
//
// Input: [flags] [chunk seed] [actions] ([u16 length] [session]) [server bytes]
// flags picks one of the fixed client contexts (fuzz_support.hpp, config::)
// and, with config::session, says that a serialised Session follows, which
// the client offers. The chunk seed chooses how the server's bytes are cut
// (Chunker), actions how the Object is driven. The server bytes must never
// crash, hang or leak the client; failing the handshake is fine.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>

#include <sanstls/error.hpp>
#include <sanstls/session.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sanstls_fuzz::make_all_contexts();
  return 0;
}

namespace {

// one_input is the target proper; LLVMFuzzerTestOneInput runs it through
// run_input (a thread of its own in deep mode).
void one_input(const std::uint8_t* data, std::size_t size) {
  sanstls_fuzz::Input input(data, size);
  const std::uint8_t flags = input.byte();
  const std::uint8_t chunk_seed = input.byte();
  const std::uint8_t how = input.byte();
  const sanstls::Context& ctx = sanstls_fuzz::client_context(flags);

  std::optional<sanstls::Session> session;
  if ((flags & sanstls_fuzz::config::session) != 0) {
    std::string_view blob = input.take(input.u16());
    try {
      session = sanstls::Session::from_bytes(ctx, sanstls::as_bytes(blob));
    } catch (const sanstls::SSLError&) {
      // Not a session: a full handshake then.
    }
  }

  sanstls::MemoryBIO incoming, outgoing;
  std::optional<sanstls::Object> tls;
  try {
    tls.emplace(ctx.wrap_bio(incoming, outgoing, false, "localhost", session));
  } catch (const std::invalid_argument&) {
    // A session that from_bytes accepted but this client cannot offer
    // (set_session documents these); try again without.
    tls.emplace(ctx.wrap_bio(incoming, outgoing, false, "localhost"));
  }
  sanstls_fuzz::drive_handshake(*tls, incoming, outgoing, input.rest(), chunk_seed, how);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sanstls_fuzz::run_input([data, size] { one_input(data, size); });
  return 0;
}
