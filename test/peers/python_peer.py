#!/usr/bin/env python3
"""A TLS peer built on Python's own ssl module, for sanstls' interop tests.

The C++ test (test/python_interop_test.cpp) starts this script as a
subprocess and talks to it over loopback TCP. It serves or makes exactly one
connection, then prints one JSON line describing what it saw and exits.

  server mode: binds 127.0.0.1 port 0, prints "PORT <n>" (flushed) as its
               first line, accepts one connection.
  client mode: connects to 127.0.0.1:--port.

Behaviours:
  echo   server: echo everything until the peer's close_notify, then unwrap.
         client: send --payload-file, read the same number of bytes back,
                 compare, then unwrap (close_notify first, wait for the peer's).
  close  send --payload-file (or --message), then unwrap.
  abort  --abort-at handshake: close TCP before any TLS byte is sent (a
                 server first reads the ClientHello, so that no unread byte
                 turns its close into a reset).
         --abort-at after: handshake, send --payload-file (or --message), then
                 close TCP without close_notify.

With --connections N the peer makes or serves N connections in a row with
one SSLContext, each with the same behaviour; a client offers each
connection the session of the one before. The JSON line describes the last
connection, plus reused_count: how many of them resumed a session.

The JSON line is flat (strings, numbers, booleans, null) so the C++ side can
parse it without a JSON library: version, cipher, cipher_protocol,
cipher_bits, alpn, peer_subject, peer_cert_der_hex, bytes_received, echo_ok,
unwrapped, aborted, and error_class / error_message / error_library /
error_reason / verify_code / verify_message when something failed.
"""

import argparse
import json
import signal
import socket
import ssl
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--port", type=int, help="client: the port to connect to")
    p.add_argument("--cert", help="PEM certificate chain to present")
    p.add_argument("--key", help="PEM private key for --cert")
    p.add_argument("--ca", help="PEM file of trusted CAs (client: none means trust nothing)")
    p.add_argument("--alpn", default="", help="comma-separated ALPN protocols")
    p.add_argument("--min-version", help="TLSVersion name, e.g. TLSv1_2")
    p.add_argument("--max-version", help="TLSVersion name, e.g. TLSv1_3")
    p.add_argument("--require-client-cert", action="store_true",
                   help="server: CERT_REQUIRED against --ca")
    p.add_argument("--server-hostname", default="localhost",
                   help="client: SNI and the name to verify")
    p.add_argument("--behaviour", choices=["echo", "close", "abort"], default="echo")
    p.add_argument("--abort-at", choices=["handshake", "after"], default="after")
    p.add_argument("--payload-file", help="bytes to send (echo client, close, abort)")
    p.add_argument("--message", default="", help="text to send when no --payload-file")
    p.add_argument("--timeout", type=float, default=10.0, help="socket timeout, seconds")
    p.add_argument("--connections", type=int, default=1,
                   help="connections in a row; a client resumes the previous session")
    return p.parse_args(argv)


def make_context(args):
    if args.mode == "server":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if args.require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        # PROTOCOL_TLS_CLIENT: CERT_REQUIRED and check_hostname, and no
        # default CAs unless loaded, so no --ca means "trust nothing".
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.ca:
        ctx.load_verify_locations(cafile=args.ca)
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(","))
    if args.min_version:
        ctx.minimum_version = ssl.TLSVersion[args.min_version]
    if args.max_version:
        ctx.maximum_version = ssl.TLSVersion[args.max_version]
    return ctx


def payload(args):
    if args.payload_file:
        with open(args.payload_file, "rb") as f:
            return f.read()
    return args.message.encode()


def record_session(tls, info):
    info["version"] = tls.version()
    cipher = tls.cipher()
    if cipher:
        info["cipher"], info["cipher_protocol"], info["cipher_bits"] = cipher
    info["alpn"] = tls.selected_alpn_protocol()
    der = tls.getpeercert(True)
    if der:
        info["peer_cert_der_hex"] = der.hex()
        cert = tls.getpeercert()
        if cert:
            info["peer_subject"] = ",".join(
                "%s=%s" % (k, v) for rdn in cert.get("subject", ()) for (k, v) in rdn)


def recv_exactly(tls, n):
    chunks, got = [], 0
    while got < n:
        data = tls.recv(min(65536, n - got))
        if not data:
            break
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


def run_tls(tls, args, info):
    """Runs the behaviour on a wrapped socket whose handshake is pending."""
    tls.do_handshake()
    record_session(tls, info)
    if tls.session_reused:
        info["reused_count"] = info.get("reused_count", 0) + 1
    if args.behaviour == "echo" and args.mode == "server":
        total = 0
        while True:
            try:
                data = tls.recv(65536)
            except ssl.SSLZeroReturnError:
                data = b""
            if not data:  # close_notify (ragged EOF raises: suppress_ragged_eofs=False)
                break
            total += len(data)
            info["bytes_received"] = total
            tls.sendall(data)
        tls.unwrap()
        info["unwrapped"] = True
    elif args.behaviour == "echo":
        out = payload(args)
        tls.sendall(out)
        back = recv_exactly(tls, len(out))
        info["bytes_received"] = len(back)
        info["echo_ok"] = back == out
        # The echo came after any TLS 1.3 tickets: the session is resumable.
        info["_session"] = tls.session
        tls.unwrap()
        info["unwrapped"] = True
    elif args.behaviour == "close":
        tls.sendall(payload(args))
        tls.unwrap()
        info["unwrapped"] = True
    else:  # abort after the handshake
        tls.sendall(payload(args))
        # SSLSocket.shutdown drops the SSL object without SSL_shutdown: the
        # TCP connection ends with a FIN and no close_notify.
        tls.shutdown(socket.SHUT_RDWR)
        info["aborted"] = True


def run_connection(sock, ctx, args, info, session=None):
    sock.settimeout(args.timeout)
    if args.behaviour == "abort" and args.abort_at == "handshake":
        # A server reads the ClientHello first, so that nothing unread turns
        # the close into a reset.
        if args.mode == "server":
            info["bytes_received"] = len(sock.recv(65536))
        sock.shutdown(socket.SHUT_RDWR)
        info["aborted"] = True
        return
    tls = ctx.wrap_socket(
        sock, server_side=args.mode == "server", do_handshake_on_connect=False,
        suppress_ragged_eofs=False,
        server_hostname=args.server_hostname if args.mode == "client" else None,
        session=session)
    try:
        run_tls(tls, args, info)
    finally:
        tls.close()


def record_error(info, exc):
    info["error_class"] = type(exc).__name__
    info["error_message"] = str(exc)
    for attr in ("library", "reason", "verify_code", "verify_message"):
        value = getattr(exc, attr, None)
        if value is not None:
            info["error_" + attr if attr in ("library", "reason") else attr] = value


def main(argv):
    args = parse_args(argv)
    # Last resort, for a peer stuck outside a socket call: the socket
    # timeouts fire first on a stall. It must not end a slow but moving
    # transfer (a sanitizer build on a busy machine), so it matches the
    # test's own bound on a whole scenario (scenario_time, 300 s).
    signal.alarm(300)
    info = {"mode": args.mode, "behaviour": args.behaviour, "bytes_received": 0,
            "error_class": None}
    try:
        ctx = make_context(args)
        info["reused_count"] = 0
        if args.mode == "server":
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
                listener.bind(("127.0.0.1", 0))
                listener.listen(1)
                listener.settimeout(args.timeout)
                print("PORT %d" % listener.getsockname()[1], flush=True)
                for _ in range(args.connections):
                    conn, _ = listener.accept()
                    with conn:
                        run_connection(conn, ctx, args, info)
        else:
            for _ in range(args.connections):
                sock = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
                with sock:
                    run_connection(sock, ctx, args, info, info.pop("_session", None))
    except Exception as exc:  # noqa: BLE001 - everything is reported as JSON
        record_error(info, exc)
    info.pop("_session", None)
    print(json.dumps(info, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
