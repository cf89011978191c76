// sanstls/sanstls.hpp: the whole engine API in one include.
//
// Example:
//   sanstls::Context ctx(sanstls::Protocol::tls_client);
//   sanstls::MemoryBIO incoming, outgoing;
//   sanstls::Object tls = ctx.wrap_bio(incoming, outgoing, false, "example.com");
//   sanstls::Result r = tls.do_handshake();  // want_read: send outgoing.read()
//   (void)r;
//
// Threads, in short (each header says more): configure a Context, then
// share it between any number of threads (context.hpp); an Object and its
// MemoryBIOs belong to one thread at a time (object.hpp, memory_bio.hpp);
// Sessions, Certificates, Results and Errors are values any thread may
// read (session.hpp, certificate.hpp, error.hpp); callbacks run on the
// thread of the engine call that needs them, for many Objects at once
// (callbacks.hpp); the free functions may run on any thread. sanstls
// starts no threads and keeps no global state besides BoringSSL's and a
// small per-thread cache of buffer memory.
#ifndef SANSTLS_SANSTLS_HPP
#define SANSTLS_SANSTLS_HPP

#include <sanstls/bytes.hpp>
#include <sanstls/callbacks.hpp>
#include <sanstls/certificate.hpp>
#include <sanstls/constants.hpp>
#include <sanstls/context.hpp>
#include <sanstls/ech.hpp>
#include <sanstls/error.hpp>
#include <sanstls/helpers.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/object.hpp>
#include <sanstls/session.hpp>
#include <sanstls/version.hpp>

#endif  // SANSTLS_SANSTLS_HPP
