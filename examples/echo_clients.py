#!/usr/bin/env python3
"""Run a sanstls echo server example against many concurrent Python ssl clients.

usage: echo_clients.py SERVER_BINARY [--connections 64] [--scale 1.0]
                       [--max-clients M] [--timeout 120]

The server (libuv_echo_server, uring_echo_server, asio_echo_server) is started with --ca-out
and --serve N in a temporary folder; it prints "listening on PORT". Then N
clients connect at once, each on its own thread with a real
ssl.SSLContext(PROTOCOL_TLS_CLIENT) that trusts the server's CA and checks
its name:

* most send messages of 1 byte to 64 KiB one at a time, or (duplex) up to
  1 MiB from one thread while another reads the echo, check every echoed
  byte, end with a close_notify and check that the server answered with its
  own and then closed the TCP connection;
* one never reads while it writes, until the server stops reading from it
  (back-pressure); then it reads and checks everything;
* six misbehave: hang up or reset mid-handshake, send garbage instead of a
  ClientHello, cut a record short or reset the connection mid-stream.

Then the server must exit 0 on its own, with the summary line "served N
connections: C clean, E errors", where C is the well-behaved clients and E
the misbehaving ones, having logged one line per error. Exit status 0 is a
pass, 1 a failure, 77 (the server's own 77: no io_uring here) a skip.

Only hang protection depends on time: no check measures speed, so slow and
sanitizer builds pass as long as they finish. --scale shrinks or grows the
duplex clients' data; --max-clients makes the server hold the clients beyond
M in its listen backlog until others are done.
"""

import argparse
import functools
import os
import queue
import random
import re
import select
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading

SKIP = 77

# A client whose writes stall for this long decides the server stopped
# reading from it. A busy machine can only make it decide so too early,
# which weakens the back-pressure check but never fails it.
STALL_SECONDS = 2.0
# A server without back-pressure would read this much from a client that
# never reads its echoes; kernel buffers on loopback hold far less.
NO_BACKPRESSURE_LIMIT = 64 << 20

# Sequential clients send one message and read it back before the next, so
# every message fits in the kernel's buffers and the server's queue.
SEQUENTIAL_SIZES = [1, 2, 17, 100, 1000, 4096, 16383, 16384, 16385, 40000, 65536]
# Duplex clients write these while another thread reads the echoes.
DUPLEX_SIZES = [1 << 20, 1, 300_000, 1 << 20, 17, 70_000]

MISBEHAVING = [
    "hangup_in_handshake",  # half a ClientHello, then FIN
    "reset_in_handshake",   # a ClientHello, the server's answer, then RST
    "garbage_text",         # an HTTP request instead of a ClientHello
    "garbage_record",       # a handshake record of random bytes
    "truncate_mid_record",  # half a record, then FIN: no close_notify
    "reset_mid_stream",     # a message, then RST
]


class Failure(Exception):
    """A client saw the server misbehave."""


class Stream:
    """A client's deterministic bytes: its messages are slices of this
    stream, so a reader checks an echo without keeping what was sent, and no
    two clients send the same bytes (a mixed-up echo is caught)."""

    def __init__(self, seed):
        self.block = random.Random(seed).randbytes(256 * 1024 + 13)

    def slice(self, start, size):
        out = bytearray()
        while size:
            offset = start % len(self.block)
            take = min(size, len(self.block) - offset)
            out += self.block[offset:offset + take]
            start += take
            size -= take
        return bytes(out)


def connect(port, timeout, buffer_size=None):
    """A TCP connection to the server; |buffer_size| pins the kernel buffers
    (and turns off their growth), before the handshake sets the window."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if buffer_size:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_size)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_size)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def reset(sock):
    """Close |sock| with a TCP reset instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def expect_server_close(sock):
    """Read until the server closes the connection (FIN or reset)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise Failure("the server did not close the connection") from None


class BioClient:
    """A TLS client on ssl.SSLObject over a blocking socket, so that one
    thread can write while another reads: the SSLObject and its MemoryBIOs
    are used under a lock, the socket outside it, and only one thread sends
    (records must go out in the order they were made)."""

    def __init__(self, ctx, sock):
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.lock = threading.Lock()

    def _flush(self):
        with self.lock:
            data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _receive(self):
        data = self.sock.recv(256 * 1024)
        with self.lock:
            if data:
                self.incoming.write(data)
            else:
                self.incoming.write_eof()
        return data

    def handshake(self):
        while True:
            try:
                with self.lock:
                    self.tls.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                if not self._receive():
                    raise Failure("the server closed the connection during the handshake") from None

    def encrypt(self, data):
        """The records carrying |data|, to be sent by the caller."""
        with self.lock:
            self.tls.write(data)
            return self.outgoing.read()

    def send(self, data):
        self.sock.sendall(self.encrypt(data))

    def recv_some(self):
        """The next decrypted bytes; Failure when the server closed."""
        ended = False
        while True:
            with self.lock:
                try:
                    data = self.tls.read(256 * 1024)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLError as e:
                    raise Failure(f"the connection broke in the middle of an echo: {e}") from None
            if data == b"":
                raise Failure("the server sent close_notify in the middle of an echo")
            if data:
                return data
            if ended:
                raise Failure("the server closed the connection in the middle of an echo")
            # At the end of the stream the next read says how it ended.
            ended = not self._receive()

    def recv_exactly(self, size):
        out = bytearray()
        while len(out) < size:
            out += self.recv_some()
        return bytes(out)

    def unwrap(self):
        """Send close_notify, wait for the server's, then for its FIN."""
        ended = False
        while True:
            try:
                with self.lock:
                    self.tls.unwrap()
                self._flush()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if ended:
                    raise Failure("the server closed the connection without a close_notify") from None
                ended = not self._receive()
            except ssl.SSLError as e:
                raise Failure(f"no close_notify from the server: {e}") from None
        if self.sock.recv(1) != b"":
            raise Failure("the server sent bytes after its close_notify")
        self.sock.close()


def check_echo(stream, start, echoed, what):
    expected = stream.slice(start, len(echoed))
    if echoed != expected:
        at = next(i for i in range(len(echoed)) if echoed[i] != expected[i])
        raise Failure(f"{what}: echoed byte {start + at} differs")


# ---- Well-behaved clients ---------------------------------------------------------


def sequential_sizes(index):
    """The message sizes of sequential client |index|: all of them, in an
    order and with small offsets of its own."""
    shift = index % len(SEQUENTIAL_SIZES)
    sizes = SEQUENTIAL_SIZES[shift:] + SEQUENTIAL_SIZES[:shift]
    return [max(1, min(65536, size + (index % 5) - 2)) for size in sizes]


def sequential_socket_client(ctx, port, index, args):
    """Python's blocking SSLSocket: sendall, read the echo, next message."""
    stream = Stream(index)
    with ctx.wrap_socket(connect(port, args.timeout), server_hostname="localhost") as tls:
        position = 0
        for size in sequential_sizes(index):
            tls.sendall(stream.slice(position, size))
            echoed = bytearray()
            while len(echoed) < size:
                data = tls.recv(size - len(echoed))
                if not data:
                    raise Failure("the server closed the connection in the middle of an echo")
                echoed += data
            check_echo(stream, position, bytes(echoed), f"message of {size} bytes")
            position += size
        # unwrap() returns only once the server's close_notify arrived.
        raw = tls.unwrap()
        if raw.recv(1) != b"":
            raise Failure("the server sent bytes after its close_notify")
        raw.close()
        return position


def sequential_object_client(ctx, port, index, args):
    """The same over ssl.SSLObject and MemoryBIOs."""
    stream = Stream(index)
    client = BioClient(ctx, connect(port, args.timeout))
    client.handshake()
    position = 0
    for size in sequential_sizes(index):
        client.send(stream.slice(position, size))
        check_echo(stream, position, client.recv_exactly(size), f"message of {size} bytes")
        position += size
    client.unwrap()
    return position


def duplex_client(ctx, port, index, args):
    """One thread writes messages of up to 1 MiB while this one reads the
    echoes: the server reads, decrypts, encrypts and sends at once, and
    holds back when this reader falls behind."""
    stream = Stream(index)
    sizes = [max(1, int(size * args.scale)) for size in DUPLEX_SIZES]
    total = sum(sizes)
    client = BioClient(ctx, connect(port, args.timeout))
    client.handshake()
    writer_error = []

    def write_all():
        try:
            position = 0
            rng = random.Random(index)
            for size in sizes:
                end = position + size
                while position < end:
                    chunk = min(end - position, rng.choice([1, 1000, 16384, 65536, 200_000]))
                    client.send(stream.slice(position, chunk))
                    position += chunk
        except Exception as e:  # reported by the reader's thread
            writer_error.append(e)

    writer = threading.Thread(target=write_all, daemon=True)
    writer.start()
    received = 0
    try:
        while received < total:
            data = client.recv_some()
            check_echo(stream, received, data, "duplex echo")
            received += len(data)
    finally:
        writer.join(args.timeout)
    if writer.is_alive():
        raise Failure("the writer thread hangs")
    if writer_error:
        raise Failure(f"writer: {writer_error[0]!r}")
    client.unwrap()
    return total


def stalled_reader_client(ctx, port, index, args):
    """Write without reading the echoes until the server stops reading
    (its queue of echoes is full: back-pressure); then read and check
    everything."""
    stream = Stream(index)
    sock = connect(port, args.timeout, buffer_size=64 * 1024)
    client = BioClient(ctx, sock)
    client.handshake()
    sock.setblocking(False)
    written = 0
    unsent = b""
    while written < NO_BACKPRESSURE_LIMIT:
        if not unsent:
            unsent = client.encrypt(stream.slice(written, 16384))
            written += 16384
        try:
            unsent = unsent[sock.send(unsent):]
        except BlockingIOError:
            _, writable, _ = select.select([], [sock], [], STALL_SECONDS)
            if not writable:
                break
    if written >= NO_BACKPRESSURE_LIMIT:
        raise Failure(f"no back-pressure: the server read {written >> 20} MiB from a client "
                      "that never read its echoes")
    print(f"stalled_reader: the server stopped reading after {written / (1 << 20):.1f} MiB", flush=True)
    sock.settimeout(args.timeout)
    # The rest goes out while the echoes are read: only now does the
    # server read again.
    sender_error = []

    def send_rest():
        try:
            sock.sendall(unsent)
        except OSError as e:
            sender_error.append(e)

    sender = threading.Thread(target=send_rest, daemon=True)
    sender.start()
    received = 0
    while received < written:
        data = client.recv_some()
        check_echo(stream, received, data, "echo after the stall")
        received += len(data)
    sender.join(args.timeout)
    if sender.is_alive() or sender_error:
        raise Failure(f"sending the rest after the stall: {sender_error or 'hangs'}")
    client.unwrap()
    return written


# ---- Misbehaving clients -----------------------------------------------------------


def client_hello(ctx):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def misbehaving_client(ctx, port, index, args, kind):
    """Each kind must make the server end that connection with an error,
    and never take the server down."""
    sock = connect(port, args.timeout)
    if kind == "hangup_in_handshake":
        hello = client_hello(ctx)
        sock.sendall(hello[:len(hello) // 2])
        sock.shutdown(socket.SHUT_WR)
        expect_server_close(sock)
        sock.close()
    elif kind == "reset_in_handshake":
        sock.sendall(client_hello(ctx))
        if not sock.recv(1):  # the server has accepted and answered
            raise Failure("the server closed instead of answering a ClientHello")
        reset(sock)
    elif kind == "garbage_text":
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        expect_server_close(sock)
        sock.close()
    elif kind == "garbage_record":
        # A whole ClientHello message of random bytes, so the server has
        # all of it and must refuse it rather than wait for more.
        garbage = random.Random(index).randbytes(196)
        message = b"\x01" + struct.pack(">I", len(garbage))[1:] + garbage
        sock.sendall(b"\x16\x03\x01" + struct.pack(">H", len(message)) + message)
        expect_server_close(sock)
        sock.close()
    elif kind == "truncate_mid_record":
        stream = Stream(index)
        client = BioClient(ctx, sock)
        client.handshake()
        client.send(stream.slice(0, 1000))
        check_echo(stream, 0, client.recv_exactly(1000), "message before the truncation")
        record = client.encrypt(stream.slice(1000, 1000))
        sock.sendall(record[:len(record) // 2])
        sock.shutdown(socket.SHUT_WR)
        expect_server_close(sock)
        sock.close()
    elif kind == "reset_mid_stream":
        stream = Stream(index)
        client = BioClient(ctx, sock)
        client.handshake()
        client.send(stream.slice(0, 1000))
        check_echo(stream, 0, client.recv_exactly(1000), "message before the reset")
        client.send(stream.slice(1000, 50_000))
        reset(sock)
    return 0


# ---- The run -------------------------------------------------------------------------


def plan(connections):
    """The clients of a run: (name, function, well_behaved)."""
    clients = [(kind, functools.partial(misbehaving_client, kind=kind), False) for kind in MISBEHAVING]
    clients.append(("stalled_reader", stalled_reader_client, True))
    clients += [("duplex", duplex_client, True)] * 4
    while len(clients) < connections:
        if len(clients) % 2:
            clients.append(("sequential_socket", sequential_socket_client, True))
        else:
            clients.append(("sequential_object", sequential_object_client, True))
    return clients


class Server:
    """The server process, its output lines and its log."""

    def __init__(self, binary, ca_path, serve, max_clients):
        command = [binary, "--ca-out", ca_path, "--serve", str(serve)]
        if max_clients:
            command += ["--max-clients", str(max_clients)]
        try:
            self.proc = subprocess.Popen(command,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise Failure(f"cannot start {binary}: {e}") from None
        self.stdout = queue.Queue()
        self.log = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.stderr_done = threading.Thread(target=self._read_stderr, daemon=True)
        self.stderr_done.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.stdout.put(line.rstrip("\n"))
        self.stdout.put(None)

    def _read_stderr(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            self.log.append(line)
            print(f"server: {line}", file=sys.stderr, flush=True)

    def line(self, timeout):
        """The next line of standard output; None at its end."""
        try:
            return self.stdout.get(timeout=timeout)
        except queue.Empty:
            raise Failure(f"the server printed nothing for {timeout} s") from None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run(args, ca_path):
    name = os.path.basename(args.server)
    clients = plan(args.connections)
    expected_clean = sum(1 for _, _, good in clients if good)
    expected_errors = len(clients) - expected_clean
    server = Server(args.server, ca_path, len(clients), args.max_clients)
    try:
        first = server.line(args.timeout)
        if first is None:
            status = server.proc.wait()
            server.stderr_done.join(5)
            if status == SKIP:
                reason = next((l for l in server.log if "unavailable" in l), "exit status 77")
                print(f"SKIP: {name}: {reason}")
                return SKIP
            raise Failure(f"the server exited with status {status} before listening")
        match = re.fullmatch(r"listening on (\d+)", first)
        if not match:
            raise Failure(f"the server's first line is {first!r}, not 'listening on PORT'")
        port = int(match.group(1))

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the name
        ctx.load_verify_locations(ca_path)

        results = [None] * len(clients)

        def client_thread(slot, kind, function):
            try:
                results[slot] = ("ok", function(ctx, port, slot, args))
            except Exception as e:
                results[slot] = ("fail", f"{kind} client {slot}: {e!r}" if not isinstance(e, Failure)
                                 else f"{kind} client {slot}: {e}")

        threads = [threading.Thread(target=client_thread, args=(slot, kind, function), daemon=True)
                   for slot, (kind, function, _) in enumerate(clients)]
        for thread in threads:
            thread.start()
        failures = []
        for slot, thread in enumerate(threads):
            thread.join(args.timeout)
            if thread.is_alive():
                failures.append(f"{clients[slot][0]} client {slot} hangs after {args.timeout} s")
        if failures:
            raise Failure("; ".join(failures))
        failures = [result[1] for result in results if result[0] != "ok"]
        echoed = sum(result[1] for result in results if result[0] == "ok")

        try:
            status = server.proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            failures.append(f"the server did not exit within {args.timeout} s of the last client")
            raise Failure("\n  ".join(failures)) from None
        server.stderr_done.join(5)
        lines = []
        while (line := server.line(5)) is not None:
            lines.append(line)
        if status != 0:
            failures.append(f"the server exited with status {status}")
        summary = next((l for l in lines if l.startswith("served ")), None)
        wanted = (f"served {len(clients)} connections: {expected_clean} clean, "
                  f"{expected_errors} errors")
        if summary != wanted:
            failures.append(f"the server's summary is {summary!r}, expected {wanted!r}")
        logged = [l for l in server.log if " failed while " in l]
        if len(logged) != expected_errors:
            failures.append(f"the server logged {len(logged)} failed connections, expected "
                            f"{expected_errors}")
        if failures:
            raise Failure("\n  ".join(failures))
        print(f"PASS: {name}: {expected_clean} well-behaved clients echoed {echoed / (1 << 20):.1f} MiB "
              f"byte for byte and closed with close_notify both ways; {expected_errors} misbehaving "
              f"clients were dropped with an error each; {summary}")
        return 0
    finally:
        server.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("server", help="the echo server binary")
    parser.add_argument("--connections", type=int, default=64,
                        help="clients in all, at least %d (default 64)" % (len(MISBEHAVING) + 5))
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the duplex clients' message sizes (default 1.0)")
    parser.add_argument("--max-clients", type=int, default=0,
                        help="run the server with --max-clients: the rest wait in the backlog")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="hang protection: seconds any one wait may take (default 120)")
    args = parser.parse_args()
    if args.connections < len(MISBEHAVING) + 5:
        parser.error(f"--connections must be at least {len(MISBEHAVING) + 5}")
    with tempfile.TemporaryDirectory(prefix="echo-clients-") as folder:
        try:
            return run(args, os.path.join(folder, "ca.pem"))
        except Failure as e:
            print(f"FAIL: {os.path.basename(args.server)}:\n  {e}")
            return 1


if __name__ == "__main__":
    sys.exit(main())
