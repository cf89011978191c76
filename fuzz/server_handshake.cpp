// fuzz/server_handshake.cpp: a server Object fed the input as the client's
// bytes.
//
// Input: [flags] [chunk seed] [actions] [client bytes]
// flags picks one of the fixed server contexts (fuzz_support.hpp, config:::
// maximum version, ALPN, client certificates, an SNI callback); every one
// has the fixed test certificate and the fixed ticket key, so recorded
// ClientHellos resume. The chunk seed chooses how the client's bytes are
// cut, actions how the Object is driven. Errors are fine; crashes, hangs
// and leaks are not.
#include <cstddef>
#include <cstdint>

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
  const sanstls::Context& ctx = sanstls_fuzz::server_context(flags);

  sanstls::MemoryBIO incoming, outgoing;
  sanstls::Object tls = ctx.wrap_bio(incoming, outgoing, true);
  sanstls_fuzz::drive_handshake(tls, incoming, outgoing, input.rest(), chunk_seed, how);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sanstls_fuzz::run_input([data, size] { one_input(data, size); });
  return 0;
}
