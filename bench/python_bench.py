#!/usr/bin/env python3
"""Python's ssl.SSLObject + ssl.MemoryBIO reference for sanstls-bench.

It runs, in one process, the same handshake and bulk scenarios as the C++
program: a client and a server SSLObject, bytes moved by hand between their
MemoryBIOs, with the PEM files sanstls-bench wrote to --dir.

sanstls-bench starts it with --serve and interleaves its repetitions with
its own (sanstls, baseline, ..., python, sanstls, ...), sending one command
per line on stdin:

    warm <scenario>     warm up and size one repetition; answers OK
    run <scenario>      one timed repetition; answers REP <value>
    report <scenario>   answers the summary line below
    quit

and answers "UNSUPPORTED <reason>" to warm for the scenarios it does not
measure (resumption, memory).

Run by hand without --serve, it runs every scenario --reps times in a row.
Either way the summary of a scenario is

    PEER scenario=<name> median=<v> unit=<unit> min=<v> max=<v> count=<n>

and lines starting with "# " are notes. Python cannot choose TLS 1.3 cipher
suites, so an OpenSSL configuration file (OPENSSL_CONF, written before the
ssl module loads) makes TLS_AES_128_GCM_SHA256 the preferred one, as
BoringSSL prefers it on machines with AES hardware.
"""

import argparse
import os
import random
import statistics
import sys
import time
import zlib

HANDSHAKES = {
    # name: (key, tls12)
    "handshake_tls13_ecdsa": ("ecdsa", False),
    "handshake_tls13_rsa2048": ("rsa2048", False),
    "handshake_tls12_ecdsa": ("ecdsa", True),
}
TLS12_GCM = "ECDHE-ECDSA-AES128-GCM-SHA256"
BULK = {
    # name: (write size, TLS 1.2 cipher, or None for TLS 1.3 AES-128-GCM)
    "bulk_64": (64, None),
    "bulk_1024": (1024, None),
    "bulk_16384": (16384, None),
    "bulk_64_tls12": (64, TLS12_GCM),
    "bulk_1024_tls12": (1024, TLS12_GCM),
    "bulk_16384_tls12": (16384, TLS12_GCM),
    "bulk_16384_chacha20": (16384, "ECDHE-ECDSA-CHACHA20-POLY1305"),
}
PERIOD = 65536
READ_SIZE = 16384

OPENSSL_CONF = """\
openssl_conf = sanstls_bench
[sanstls_bench]
ssl_conf = sanstls_bench_ssl
[sanstls_bench_ssl]
system_default = sanstls_bench_default
[sanstls_bench_default]
Ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="folder with <key>-ca.pem, <key>-cert.pem, <key>-key.pem")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--target-seconds", type=float, default=0.25)
    p.add_argument("--scenarios", default=",".join(list(HANDSHAKES) + list(BULK)))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--serve", action="store_true", help="take commands on stdin")
    p.add_argument("--wall-clock", action="store_true",
                   help="time with the wall clock instead of this thread's CPU time")
    return p.parse_args()


ARGS = parse_args()
_conf = os.path.join(ARGS.dir, "openssl.cnf")
with open(_conf, "w") as f:
    f.write(OPENSSL_CONF)
os.environ["OPENSSL_CONF"] = _conf

import ssl  # noqa: E402  (after OPENSSL_CONF is in place)

# As the C++ side: the thread's CPU time unless asked for the wall clock.
clock = time.perf_counter if ARGS.wall_clock else time.thread_time


def contexts(key, tls12=False, ciphers=None):
    """Client and server contexts with the settings the C++ side uses."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cafile=os.path.join(ARGS.dir, key + "-ca.pem"))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(os.path.join(ARGS.dir, key + "-cert.pem"),
                           os.path.join(ARGS.dir, key + "-key.pem"))
    for ctx in (client, server):
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if ciphers:
            ctx.set_ciphers(ciphers)
        # No resumption: no tickets (TLS 1.2 and 1.3).
        ctx.options |= ssl.OP_NO_TICKET
    server.num_tickets = 0
    return client, server


class Pair:
    """A client and a server SSLObject over four MemoryBIOs."""

    def __init__(self, client_ctx, server_ctx):
        self.client_in, self.client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.server_in, self.server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = client_ctx.wrap_bio(self.client_in, self.client_out,
                                          server_hostname="localhost")
        self.server = server_ctx.wrap_bio(self.server_in, self.server_out, server_side=True)

    def handshake(self):
        client_done = server_done = False
        for _ in range(8):
            if not client_done:
                try:
                    self.client.do_handshake()
                    client_done = True
                except ssl.SSLWantReadError:
                    pass
            data = self.client_out.read()
            if data:
                self.server_in.write(data)
            if not server_done:
                try:
                    self.server.do_handshake()
                    server_done = True
                except ssl.SSLWantReadError:
                    pass
            data = self.server_out.read()
            if data:
                self.client_in.write(data)
            if client_done and server_done:
                return
        raise RuntimeError("handshake did not complete")

    def settle(self):
        """One byte from the server, read by the client (as the C++ side)."""
        self.server.write(b"s")
        self.client_in.write(self.server_out.read())
        if self.client.read(16) != b"s":
            raise RuntimeError("settle: the server's byte did not arrive")


def handshakes_per_second(ctxs, n):
    start = clock()
    for _ in range(n):
        Pair(*ctxs).handshake()
    return n / (clock() - start)


def bulk_mb_per_second(ctxs, size, total, verify, data):
    pair = Pair(*ctxs)
    pair.handshake()
    pair.settle()
    chunks = [memoryview(data)[off:off + size] for off in range(0, PERIOD, size)]
    nchunks = len(chunks)
    write = pair.client.write
    move_out = pair.client_out.read
    move_in = pair.server_in.write
    read = pair.server.read
    buf = bytearray(READ_SIZE)
    received = 0
    sent_crc = received_crc = 0
    start = clock()
    for i in range(total // size):
        chunk = chunks[i % nchunks]
        write(chunk)
        if verify:
            sent_crc = zlib.crc32(chunk, sent_crc)
        move_in(move_out())
        while True:
            try:
                n = read(READ_SIZE, buf)
            except ssl.SSLWantReadError:
                break
            if verify:
                received_crc = zlib.crc32(memoryview(buf)[:n], received_crc)
            received += n
    secs = clock() - start
    if received != total or sent_crc != received_crc:
        raise RuntimeError("bulk: sent %d bytes, received %d intact=%s"
                           % (total, received, sent_crc == received_crc))
    return total / 1e6 / secs, pair.client.cipher()


def report(name, values, unit, count):
    print("PEER scenario=%s median=%.3f unit=%s min=%.3f max=%.3f count=%d"
          % (name, statistics.median(values), unit, min(values), max(values), count), flush=True)


class Scenario:
    """One scenario: warm() sizes a repetition, run() times one."""

    def __init__(self, name, data):
        self.name = name
        self.data = data
        self.values = []
        if name in HANDSHAKES:
            key, tls12 = HANDSHAKES[name]
            self.unit = "handshakes/s"
            self.ctxs = contexts(key, tls12, TLS12_GCM if tls12 else None)
        elif name in BULK:
            self.size, tls12_cipher = BULK[name]
            self.unit = "MB/s"
            self.ctxs = contexts("ecdsa", tls12_cipher is not None, tls12_cipher)
        else:
            raise ValueError("not a Python scenario: " + name)
        self.count = 0

    def warm(self):
        if self.unit == "handshakes/s":
            probe = Pair(*self.ctxs)
            probe.handshake()
            rate = handshakes_per_second(self.ctxs, 2 if ARGS.quick else 10)
            self.count = 5 if ARGS.quick else max(10, int(rate * ARGS.target_seconds))
            print("# %s: %s %s, %d handshakes per rep"
                  % (self.name, probe.client.version(), probe.client.cipher()[0], self.count),
                  flush=True)
        else:
            warm = (1 << 20) // self.size * self.size
            rate, cipher = bulk_mb_per_second(self.ctxs, self.size, warm, True, self.data)
            self.count = warm
            if not ARGS.quick:
                self.count = max(warm, int(rate * 1e6 * ARGS.target_seconds)) // self.size * self.size
            print("# %s: %s %s, %d KiB per rep" % (self.name, cipher[1], cipher[0], self.count >> 10),
                  flush=True)

    def run(self):
        if self.unit == "handshakes/s":
            value = handshakes_per_second(self.ctxs, self.count)
        else:
            value = bulk_mb_per_second(self.ctxs, self.size, self.count, ARGS.quick, self.data)[0]
        self.values.append(value)
        return value

    def report(self):
        report(self.name, self.values, self.unit, self.count)


def serve(data):
    scenarios = {}
    print("READY", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return 0
        try:
            command, name = words
            if command == "warm" and name not in HANDSHAKES and name not in BULK:
                print("UNSUPPORTED the Python reference measures full handshakes and bulk only",
                      flush=True)
            elif command == "warm":
                scenarios[name] = Scenario(name, data)
                scenarios[name].warm()
                print("OK", flush=True)
            elif command == "run":
                print("REP %.3f" % scenarios[name].run(), flush=True)
            elif command == "report":
                scenarios[name].report()
            else:
                raise ValueError("unknown command")
        except Exception as e:  # the C++ side reports it and fails
            print("ERROR %s: %r" % (line.strip(), e), flush=True)
            return 1
    return 0


def main():
    print("# Python %s, %s, ssl.SSLObject + ssl.MemoryBIO, timed by %s"
          % (sys.version.split()[0], ssl.OPENSSL_VERSION,
             "wall clock" if ARGS.wall_clock else "thread CPU time"), flush=True)
    rng = random.Random(1)
    data = bytes(rng.getrandbits(8) for _ in range(PERIOD)) * 2
    if ARGS.serve:
        return serve(data)
    for name in [s for s in ARGS.scenarios.split(",") if s]:
        scenario = Scenario(name, data)
        scenario.warm()
        for _ in range(ARGS.reps):
            scenario.run()
        scenario.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
