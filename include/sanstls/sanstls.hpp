// sanstls/sanstls.hpp: the whole engine API in one include.
//
// Example:
//   sanstls::Context ctx(sanstls::Protocol::tls_client);
//   sanstls::MemoryBIO incoming, outgoing;
//   sanstls::Object tls = ctx.wrap_bio(incoming, outgoing, false, "example.com");
//   sanstls::Result r = tls.do_handshake();  // want_read: send outgoing.read()
//   (void)r;
#ifndef SANSTLS_SANSTLS_HPP
#define SANSTLS_SANSTLS_HPP

#include <sanstls/bytes.hpp>
#include <sanstls/callbacks.hpp>
#include <sanstls/certificate.hpp>
#include <sanstls/constants.hpp>
#include <sanstls/context.hpp>
#include <sanstls/error.hpp>
#include <sanstls/helpers.hpp>
#include <sanstls/memory_bio.hpp>
#include <sanstls/object.hpp>
#include <sanstls/session.hpp>
#include <sanstls/version.hpp>

#endif  // SANSTLS_SANSTLS_HPP
