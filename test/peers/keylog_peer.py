#!/usr/bin/env python3
"""A TLS server on Python's ssl module that logs its keys, for keylog_test.

It binds 127.0.0.1 port 0, prints "PORT <n>" (flushed), accepts one
connection with keylog_filename set to --keylog, completes the handshake,
reads until the client's close_notify (or EOF), then prints one JSON line:
version, tls_unique (hex, or null) and error (null, or the exception text).
"""

import argparse
import json
import signal
import socket
import ssl
import sys


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--keylog", required=True)
    p.add_argument("--max-version", help="TLSVersion name, e.g. TLSv1_2")
    p.add_argument("--no-ems", action="store_true",
                   help="refuse TLS 1.2's extended master secret (OpenSSL 3's "
                        "SSL_OP_NO_EXTENDED_MASTER_SECRET, bit 0)")
    p.add_argument("--timeout", type=float, default=20.0)
    args = p.parse_args(argv)
    signal.alarm(int(args.timeout * 2) + 5)

    info = {"version": None, "tls_unique": None, "error": None}
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.max_version:
            ctx.maximum_version = ssl.TLSVersion[args.max_version]
        if args.no_ems:
            ctx.options |= 1
        ctx.keylog_filename = args.keylog
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.settimeout(args.timeout)
            print("PORT %d" % listener.getsockname()[1], flush=True)
            conn, _ = listener.accept()
            conn.settimeout(args.timeout)
            with ctx.wrap_socket(conn, server_side=True) as tls:
                info["version"] = tls.version()
                binding = tls.get_channel_binding("tls-unique")
                info["tls_unique"] = binding.hex() if binding is not None else None
                while tls.recv(4096):
                    pass
    except Exception as exc:  # noqa: BLE001 - reported as JSON
        info["error"] = "%s: %s" % (type(exc).__name__, exc)
    print(json.dumps(info, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
