// The load tools' subcommands (bench/load, program sanstls-load). Each
// parses its own arguments and prints BENCH lines as sanstls-bench does.
#ifndef SANSTLS_BENCH_LOAD_HPP
#define SANSTLS_BENCH_LOAD_HPP

namespace sanstls_load {

// run_conns holds many concurrent TLS connections to a server process it
// starts (conns.cpp); |argv| starts after the subcommand's name.
int run_conns(int argc, char** argv);

// run_soak runs a long series of in-memory handshakes and watches the
// process's memory (soak.cpp).
int run_soak(int argc, char** argv);

}  // namespace sanstls_load

#endif  // SANSTLS_BENCH_LOAD_HPP
