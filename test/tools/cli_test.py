#!/usr/bin/env python3
"""`sanstls client`, `sanstls server` and `sanstls get-server-certificate`
end to end, against each other and against Python's ssl module (and curl
when /usr/bin/curl exists).

usage: cli_test.py SANSTLS_TOOL

Makes a CA, a server certificate for localhost and 127.0.0.1, a client
certificate and an unrelated CA with the openssl command in a temporary
folder; everything runs on 127.0.0.1 with free ports. Prints one line per
check and a summary; exits 1 when any check fails.
"""
import base64
import json
import os
import select
import shutil
import signal
import socket
import ssl
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

TOOL = None
TMP = None
FAILURES = []
PASSED = 0
# --timeout of the client: seconds without data before it stops reading.
# Every client here ends at the server's close_notify or EOF, so this only
# bounds a broken run; it is long so that a busy machine's slow answer is
# never mistaken for the end.
IDLE = "10"


def check(name, ok, detail=""):
    global PASSED
    if ok:
        PASSED += 1
        print("PASS " + name, flush=True)
    else:
        FAILURES.append(name)
        print("FAIL " + name + ("\n  " + detail.replace("\n", "\n  ") if detail else ""), flush=True)
    return ok


def path(name):
    return os.path.join(TMP, name)


# ---- Certificates -------------------------------------------------------------

def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(name, cn):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path(name + ".key"), "-out", path(name + ".pem"), "-days", "30",
            "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_leaf(name, cn, ca, extensions):
    with open(path(name + ".ext"), "w") as f:
        f.write(extensions)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + cn)
    openssl("x509", "-req", "-in", path(name + ".csr"), "-CA", path(ca + ".pem"),
            "-CAkey", path(ca + ".key"), "-CAcreateserial", "-out", path(name + ".pem"),
            "-days", "30", "-extfile", path(name + ".ext"))


def make_certificates():
    make_ca("ca", "sanstls cli test CA")
    make_ca("other_ca", "some other CA")
    make_leaf("server", "localhost", "ca",
              "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    make_leaf("client", "sanstls cli test client", "ca",
              "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "extendedKeyUsage=clientAuth\n")


# ---- Running the tool -----------------------------------------------------------

def run(args, stdin=b"", timeout=30):
    """(returncode, stdout bytes, stderr text) of the tool with |args|."""
    try:
        p = subprocess.run([TOOL] + args, input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return -999, e.stdout or b"", "timed out after %ss" % timeout
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def client(port, *extra, stdin=b"", host="localhost"):
    """Runs `sanstls client`; returns (rc, summary dict or None, rest of stdout, stderr)."""
    args = ["client", host, str(port), "--cafile", path("ca.pem"), "--timeout", IDLE] + list(extra)
    rc, out, err = run(args, stdin)
    first, _, rest = out.partition(b"\n")
    try:
        summary = json.loads(first)
    except ValueError:
        summary = None
    return rc, summary, rest, err


def describe(rc, summary, rest, err):
    return "exit %r\nsummary %r\ndata %r\nstderr %r" % (rc, summary, rest[:200], err[-2000:])


class Server:
    """`sanstls server ARGS`, started and always stopped."""

    def __init__(self, *args):
        self.args = list(args)
        self.proc = None
        self.port = None
        self.log_path = path("server-%d.log" % id(self))

    def __enter__(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([TOOL, "server", "--cert", path("server.pem"),
                                      "--key", path("server.key")] + self.args,
                                     stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + 15
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            chunk = os.read(self.proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
        prefix = b"listening on 127.0.0.1:"
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError("the server did not start: first line %r, log %r" % (line, self.stderr()))
        self.port = int(line[len(prefix):].strip())
        return self

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, done, timeout=15):
        """The server's log once done(log) holds, or as it stands after
        timeout seconds. The server writes a connection's line after the
        client has its answer, so a check that reads the log at once races
        the server (it lost that race on a loaded CI machine)."""
        deadline = time.monotonic() + timeout
        log = self.stderr()
        while not done(log) and time.monotonic() < deadline:
            time.sleep(0.05)
            log = self.stderr()
        return log

    def terminate(self):
        """SIGTERM; the exit status, or None when it had to be killed."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait(timeout=10)
            self.proc.stdout.close()
        self.log.close()

    def __exit__(self, *exc):
        self.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python_client_context():
    return ssl.create_default_context(cafile=path("ca.pem"))


# ---- A Python echo server -------------------------------------------------------

class PythonEchoServer:
    """Python's ssl as the server: echoes until close_notify, then unwraps."""

    def __init__(self):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(path("server.pem"), path("server.key"))
        self.ctx.set_alpn_protocols(["h2", "http/1.1"])
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.errors = []
        self.finished = 0  # connections ended, cleanly or with an entry in errors
        self.finished_lock = threading.Lock()  # echo threads may end together
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self):
        while not self.stopping:
            try:
                raw, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.echo, args=(raw,), daemon=True).start()

    def echo(self, raw):
        try:
            raw.settimeout(20)
            with self.ctx.wrap_socket(raw, server_side=True) as tls:
                while True:
                    data = tls.recv(65536)
                    if not data:
                        break
                    tls.sendall(data)
                tls.unwrap()
        except Exception as e:  # reported by the check that uses it
            self.errors.append(repr(e))
        finally:
            with self.finished_lock:
                self.finished += 1

    def wait_finished(self, count, timeout=15):
        """Until count connections have ended: each ends after its client
        has had the answer, so checking at once would race the server."""
        deadline = time.monotonic() + timeout
        while self.finished < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.finished

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.thread.join(timeout=5)
        self.listener.close()


# ---- The checks ------------------------------------------------------------------

def check_usage():
    rc, out, _ = run(["--help"])
    check("usage: --help exits 0 and names the new commands",
          rc == 0 and all(w in out for w in (b"client", b"server", b"get-server-certificate")),
          "exit %d, %r" % (rc, out))
    for args in (["client", "--help"], ["server", "--help"], ["get-server-certificate", "--help"]):
        rc, out, _ = run(args)
        check("usage: %s exits 0 with text" % " ".join(args), rc == 0 and b"usage: sanstls" in out,
              "exit %d" % rc)
    bad = [
        [],
        ["no-such-command"],
        ["client"],
        ["client", "localhost"],
        ["client", "localhost", "notaport"],
        ["client", "localhost", "70000"],
        ["client", "localhost", "443", "--bogus"],
        ["client", "localhost", "443", "--min-version", "TLSv9"],
        ["client", "localhost", "443", "--timeout", "-1"],
        ["client", "localhost", "443", "--key", path("client.key")],
        ["client", "localhost", "443", "--cafile"],
        ["server"],
        ["server", "--cert", path("server.pem")],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "--verify-client"],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "--port", "x"],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "--max-connections", "0"],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "--handshake-timeout", "0"],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "--stall-timeout", "-1"],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "--stall-timeout", "2s"],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "--stall-timeout", "nan"],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "--handshake-timeout"],
        ["client", "", "443"],
        ["client", "localhost", "443", "extra"],
        ["server", "--cert", path("server.pem"), "--key", path("server.key"), "stray"],
        ["get-server-certificate"],
        ["get-server-certificate", "localhost", "0"],
        ["get-server-certificate", "localhost", "443", "--bogus"],
    ]
    for args in bad:
        rc, _, err = run(args)
        check("usage error exits 2: %s" % (" ".join(os.path.basename(a) for a in args) or "(no arguments)"),
              rc == 2 and err.strip() != "", "exit %d, stderr %r" % (rc, err))
    for args, words in ((["client", "localhost", "443", "--bogus"], "unknown option '--bogus'"),
                        (["get-server-certificate", "-x", "localhost", "443"], "unknown option '-x'"),
                        (["server", "--cert", path("server.pem"), "--key", path("server.key"), "stray"],
                         "unexpected argument 'stray'"),
                        (["client", "", "443"], "empty HOST"),
                        (["server", "--cert", path("server.pem"), "--key", path("server.key"),
                          "--stall-timeout", "2s"], "'2s' is not a number of seconds for --stall-timeout"),
                        (["get-server-certificate", "localhost"], "expected HOST and PORT")):
        rc, _, err = run(args)
        check("usage error names the problem: %s" % words, rc == 2 and words in err,
              "exit %d, stderr %r" % (rc, err))
    rc, _, err = run(["server", "--cert", path("missing.pem"), "--key", path("server.key")])
    check("server: a missing certificate file exits 1 with a message",
          rc == 1 and ("missing.pem" in err or "No such file" in err), "exit %d, %r" % (rc, err))


def check_echo(server):
    payload = b"hello from the cli test\n"
    for version, alpn in (("TLSv1.3", "http/1.1"), ("TLSv1.2", "h2")):
        rc, summary, rest, err = client(server.port, "--min-version", version, "--max-version", version,
                                        "--alpn", "spdy/1," + alpn, "--send", payload.decode())
        ok = (rc == 0 and summary is not None and summary.get("version") == version
              and summary.get("alpn") == alpn and summary.get("verify") == "ok"
              and summary.get("session_reused") is False and isinstance(summary.get("cipher"), str)
              and summary["peer_certificate"].get("subject") == [[["commonName", "localhost"]]]
              and rest == payload and "warning" not in err)
        check("echo %s with ALPN %s: summary and data" % (version, alpn), ok,
              describe(rc, summary, rest, err))

    rc, summary, rest, err = client(server.port, stdin=b"from standard input\n")
    check("echo: standard input is sent when there is no --send", rc == 0 and rest == b"from standard input\n",
          describe(rc, summary, rest, err))

    big = os.urandom(1 << 20)
    rc, summary, rest, err = client(server.port, stdin=big)
    check("echo: 1 MiB through standard input comes back whole", rc == 0 and rest == big,
          "exit %d, %d of %d bytes, stderr %r" % (rc, len(rest), len(big), err))

    rc, summary, rest, err = client(server.port, "--no-verify", "--send", "x", host="127.0.0.1")
    check("--no-verify: peer_certificate {} and verify skipped",
          rc == 0 and summary == {**summary, "peer_certificate": {}, "verify": "skipped"} and rest == b"x",
          describe(rc, summary, rest, err))

    rc, summary, rest, err = client(server.port, "--servername", "localhost", "--send", "ip", host="127.0.0.1")
    check("--servername: connects to 127.0.0.1, verifies localhost", rc == 0 and rest == b"ip",
          describe(rc, summary, rest, err))

    # Without --timeout: once its input is sent the client sends close_notify,
    # the echo server answers with the rest and its own, and both finish.
    for stdin, extra in ((b"", ["--send", "no timeout"]), (b"from stdin, no timeout", [])):
        rc, out, err = run(["client", "localhost", str(server.port), "--cafile", path("ca.pem")] + extra, stdin)
        first, _, rest = out.partition(b"\n")
        check("echo without --timeout (%s): the client ends by itself after close_notify both ways"
              % ("--send" if extra else "stdin"),
              rc == 0 and rest == (stdin or b"no timeout") and "warning" not in err,
              "exit %r, data %r, stderr %r" % (rc, rest, err))

    for spelling, version in (("1.2", "TLSv1.2"), ("tls1.3", "TLSv1.3"), ("TLSv1.2", "TLSv1.2"), ("tls1_3", "TLSv1.3")):
        rc, summary, rest, err = client(server.port, "--min-version", spelling, "--max-version", spelling,
                                        "--send", "v")
        check("--min-version/--max-version %s negotiates %s" % (spelling, version),
              rc == 0 and summary and summary["version"] == version and rest == b"v",
              describe(rc, summary, rest, err))


def check_resumption(server):
    for version in ("TLSv1.2", "TLSv1.3"):
        saved = path("session-%s.bin" % version)
        rc1, s1, rest1, err1 = client(server.port, "--max-version", version, "--min-version", version,
                                      "--session-out", saved, "--send", "first")
        mode = stat.S_IMODE(os.stat(saved).st_mode) if os.path.exists(saved) else None
        check("resumption %s: first connection saves its session (mode 0600)" % version,
              rc1 == 0 and s1 and s1["session_reused"] is False and mode == 0o600 and rest1 == b"first",
              describe(rc1, s1, rest1, err1) + "\nmode %r" % mode)
        rc2, s2, rest2, err2 = client(server.port, "--max-version", version, "--min-version", version,
                                      "--session-in", saved, "--send", "second")
        check("resumption %s: --session-in resumes (session_reused true)" % version,
              rc2 == 0 and s2 and s2["session_reused"] is True and s2["version"] == version
              and rest2 == b"second", describe(rc2, s2, rest2, err2))
    with open(path("garbage-session.bin"), "wb") as f:
        f.write(b"not a session")
    rc, _, _, err = client(server.port, "--session-in", path("garbage-session.bin"), "--send", "x")
    check("--session-in with a broken file exits 1 with a message",
          rc == 1 and "session" in err, "exit %d, %r" % (rc, err))


def check_early_data():
    """0-RTT through the CLI: offered with a saved session, accepted once,
    its replay rejected and sent again; not offered without a session."""
    with Server("--early-data") as server:
        saved = path("session-early.bin")
        rc0, s0, rest0, err0 = client(server.port, "--session-out", saved, "--send", "first",
                                      "--early-data", "zero ")
        check("--early-data without a session: not offered, sent after the handshake",
              rc0 == 0 and s0 and s0["early_data"] == "not offered" and rest0 == b"zero first",
              describe(rc0, s0, rest0, err0))
        rc1, s1, rest1, err1 = client(server.port, "--session-in", saved, "--early-data", "GET /early ",
                                      "--send", "then 1-RTT")
        check("--early-data with a session: accepted, and echoed with what followed",
              rc1 == 0 and s1 and s1["early_data"] == "accepted" and s1["session_reused"] is True
              and rest1 == b"GET /early then 1-RTT", describe(rc1, s1, rest1, err1))
        rc2, s2, rest2, err2 = client(server.port, "--session-in", saved, "--early-data", "replayed ",
                                      "--send", "x")
        check("the same ticket's early data again: rejected (single use), resent, nothing lost",
              rc2 == 0 and s2 and s2["early_data"] == "rejected" and rest2 == b"replayed x",
              describe(rc2, s2, rest2, err2))
        log = server.wait_log(lambda log: log.count(", closed") >= 3)
        check("the server's log names what became of each connection's early data",
              "early-data=not offered, closed" in log and "early-data=accepted (11 bytes), closed" in log
              and "early-data=rejected, closed" in log, log)


def make_ocsp_response():
    """A real OCSP response saying the server's certificate is good, signed
    by the test CA with `openssl ocsp` as its responder; its DER."""
    serial = subprocess.run(["openssl", "x509", "-in", path("server.pem"), "-noout", "-serial"], check=True,
                            capture_output=True, text=True, timeout=30).stdout.strip().split("=", 1)[1]
    with open(path("index.txt"), "w") as f:
        f.write("V\t301231000000Z\t\t%s\tunknown\t/CN=localhost\n" % serial)
    openssl("ocsp", "-index", path("index.txt"), "-rsigner", path("ca.pem"), "-rkey", path("ca.key"),
            "-CA", path("ca.pem"), "-issuer", path("ca.pem"), "-cert", path("server.pem"),
            "-respout", path("ocsp.der"), "-ndays", "1")
    with open(path("ocsp.der"), "rb") as f:
        return f.read()


def check_status():
    """--ocsp-response and --sct on the server, --status on the client: the
    staple and the SCTs reach a client that asks, and only one that asks;
    unusable files stop the server before it listens."""
    der = make_ocsp_response()
    scts = [b"first SCT", b"second SCT"]
    body = b"".join(len(x).to_bytes(2, "big") + x for x in scts)
    with open(path("scts.bin"), "wb") as f:
        f.write(len(body).to_bytes(2, "big") + body)
    with Server("--ocsp-response", path("ocsp.der"), "--sct", path("scts.bin")) as server:
        for version in ("1.2", "1.3"):
            rc, summary, rest, err = client(server.port, "--status", "--max-version", version, "--send", "x")
            check("--status over TLS %s: the stapled response (base64) and 2 SCTs" % version,
                  rc == 0 and summary and summary["ocsp_response"] == base64.b64encode(der).decode()
                  and summary["sct_count"] == 2 and rest == b"x", describe(rc, summary, rest, err))
        # GnuTLS asks for a staple by default; --save-ocsp writes what came.
        saved = path("gnutls-ocsp.der")
        gnutls = subprocess.run(["gnutls-cli", "--port", str(server.port), "--x509cafile", path("ca.pem"),
                                 "--save-ocsp", saved, "localhost"], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=30)
        got = open(saved, "rb").read() if os.path.exists(saved) else None
        check("gnutls-cli --save-ocsp saves the response the server stapled",
              gnutls.returncode == 0 and got == der,
              "exit %r\nsaved %r\n%s%s" % (gnutls.returncode, got and len(got), gnutls.stdout[-1500:],
                                            gnutls.stderr[-1500:]))
        rc, summary, rest, err = client(server.port, "--send", "x")
        check("without --status: no response and no SCTs",
              rc == 0 and summary and summary["ocsp_response"] is None and summary["sct_count"] == 0,
              describe(rc, summary, rest, err))
    with open(path("bad-scts.bin"), "wb") as f:
        f.write(b"\x00\x05\x00\x01x")
    for option, file, words in (("--sct", path("bad-scts.bin"), "SignedCertificateTimestampList"),
                                ("--ocsp-response", path("no-such-file.der"), "cannot read")):
        rc, out, err = run(["server", "--cert", path("server.pem"), "--key", path("server.key"), option, file])
        check("server %s with an unusable file: exit 1, saying why" % option,
              rc == 1 and words in err and out == b"", "exit %r\nstdout %r\nstderr %r" % (rc, out, err))


def chromium_get(port):
    """Headless Chromium fetches https://127.0.0.1:PORT/ (certificate errors
    ignored: it does not know the test CA); its exit status and output."""
    with tempfile.TemporaryDirectory(prefix="sanstls-chromium-") as profile:
        try:
            done = subprocess.run(["chromium-headless-shell", "--no-sandbox", "--headless", "--disable-gpu",
                                   "--ignore-certificate-errors", "--user-data-dir=" + profile,
                                   "--dump-dom", "https://127.0.0.1:%d/" % port],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)
        except subprocess.TimeoutExpired as e:
            return None, "timed out: %r" % (e.stderr and e.stderr[-1500:])
    return done.returncode, done.stdout + done.stderr[-1500:]


def check_compression():
    """--compress-cert on both sides: the server's log line and the client's
    JSON name the algorithm used, the server's order decides, nothing is
    compressed over TLS 1.2 or for a client without it, and Chromium (which
    offers brotli only) gets a brotli-compressed certificate."""
    with Server("--compress-cert", "brotli,zlib", "--http") as server:
        cases = (("zlib,brotli", "1.3", "brotli"), ("zlib", "1.3", "zlib"), (None, "1.3", "none"),
                 ("brotli,zlib", "1.2", "none"))
        for offer, version, expected in cases:
            extra = ["--compress-cert", offer] if offer else []
            rc, summary, rest, err = client(server.port, *extra, "--max-version", version,
                                            "--send", "GET / HTTP/1.0\r\n\r\n")
            check("client --compress-cert %s over TLS %s: certificate_compression is %s" % (offer, version, expected),
                  rc == 0 and summary and summary["certificate_compression"] == expected
                  and rest.startswith(b"HTTP/1.0 200 OK"), describe(rc, summary, rest, err))
        log = server.wait_log(lambda log: log.count("cert-compression=") >= len(cases))
        lines = [line for line in log.splitlines() if "cert-compression=" in line]
        check("the server logs each connection's cert-compression",
              [line.split("cert-compression=")[1].split(",")[0] for line in lines] ==
              ["brotli", "zlib", "none", "none"], log)
        before = len(lines)
        rc, output = chromium_get(server.port)
        log = server.wait_log(lambda log: log.count("cert-compression=brotli") >= 2 and log.endswith("\n"))
        after = [line for line in log.splitlines() if "cert-compression=" in line][before:]
        check("headless Chromium fetches the page and gets a brotli-compressed certificate",
              rc == 0 and "Hello from sanstls." in output and any("TLSv1.3" in line and "cert-compression=brotli"
                                                                   in line for line in after),
              "exit %r\n%s\nserver log:\n%s" % (rc, output[-2000:], "\n".join(after)))
    rc, out, err = run(["client", "127.0.0.1", "1", "--compress-cert", "zstd"])
    check("client --compress-cert zstd: a usage error naming the algorithms",
          rc == 2 and "unknown certificate compression 'zstd' (zlib, brotli)" in err, "exit %r\n%r" % (rc, err))
    rc, out, err = run(["server", "--cert", path("server.pem"), "--key", path("server.key"),
                        "--compress-cert", "zlib,zlib"])
    check("server --compress-cert zlib,zlib: a usage error", rc == 2 and "given twice" in err and out == b"",
          "exit %r\n%r" % (rc, err))


class BsslServer:
    """`bssl-tool server` (BoringSSL's own tool) on a free port, started and
    always stopped."""

    def __init__(self, *args):
        self.port = free_port()
        self.args = ["bssl-tool", "server", "-accept", str(self.port), "-loop"] + list(args)
        self.log_path = path("bssl-server-%d.log" % self.port)

    def __enter__(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                # The probe was a connection: -loop accepts the next one.
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("bssl-tool server did not start: %r" % self.output())

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


def check_ech():
    """sanstls ech-keygen, server --ech-key, client --ech-config-list and
    --ech-grease: accepted, rejected with retry configs (the client tries
    again), a server without ECH, bssl-tool as the client and as the server,
    and unusable files."""
    make_leaf("ech", "localhost", "ca",
              "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,DNS:public.example\n")
    rc, out, err = run(["ech-keygen", "--public-name", "public.example", "--key-out", path("ech-key.pem"),
                        "--config-out", path("ech.list"), "--config-id", "7"])
    pem = open(path("ech-key.pem")).read() if rc == 0 else ""
    config = open(path("ech.list"), "rb").read() if rc == 0 else b""
    check("ech-keygen writes a PEM key file (mode 0600) and an ECHConfigList",
          rc == 0 and "-----BEGIN PRIVATE KEY-----" in pem and "-----BEGIN ECHCONFIG-----" in pem
          and os.stat(path("ech-key.pem")).st_mode & 0o777 == 0o600
          and int.from_bytes(config[:2], "big") == len(config) - 2 and config[2:4] == b"\xfe\x0d"
          and config[6] == 7 and b"public.example" in config, "exit %r\n%s" % (rc, err))
    run(["ech-keygen", "--public-name", "public.example", "--key-out", path("stale-key.pem"),
         "--config-out", path("stale.list")])
    ech_cert = ("--cert", path("ech.pem"), "--key", path("ech.key"))
    with Server(*ech_cert, "--ech-key", path("ech-key.pem")) as server:
        rc, summary, rest, err = client(server.port, "--ech-config-list", path("ech.list"), "--send", "hidden")
        check("client --ech-config-list: ECH accepted, data echoed",
              rc == 0 and summary and summary["ech"] == "accepted" and not summary["ech_retried"]
              and rest == b"hidden", describe(rc, summary, rest, err))
        rc, summary, rest, err = client(server.port, "--ech-config-list", path("stale.list"), "--send", "x")
        check("client with a stale ECHConfigList: rejected, then accepted with the server's retry configs",
              rc == 0 and summary and summary["ech"] == "accepted" and summary["ech_retried"]
              and "rejected ECH: trying again with the configs it sent" in err, describe(rc, summary, rest, err))
        rc, summary, rest, err = client(server.port, "--ech-grease", "--send", "x")
        check("client --ech-grease: a normal handshake", rc == 0 and summary and summary["ech"] == "grease",
              describe(rc, summary, rest, err))
        bssl = subprocess.run(["bssl-tool", "client", "-connect", "127.0.0.1:%d" % server.port,
                               "-server-name", "localhost", "-ech-config-list", path("ech.list")],
                              input=b"", capture_output=True, timeout=30)
        bssl_out = bssl.stdout.decode("utf-8", "replace") + bssl.stderr.decode("utf-8", "replace")
        check("bssl-tool client -ech-config-list: Encrypted ClientHello: yes", "Encrypted ClientHello: yes"
              in bssl_out, bssl_out[-2000:])
        log = server.wait_log(lambda log: log.count("ech=accepted") >= 3 and "ech=not-accepted" in log)
        accepted = log.count("ech=accepted")
        check("the server logs ech=accepted for the three ECH connections and ech=not-accepted for GREASE",
              accepted == 3 and log.count("ech=not-accepted") == 1 and "TLSV1_ALERT_ECH_REQUIRED" in log, log)
    with Server(*ech_cert) as server:
        rc, summary, rest, err = client(server.port, "--ech-config-list", path("ech.list"), "--send", "x")
        check("a server without ECH: rejected without retry configs, then a handshake without ECH",
              rc == 0 and summary and summary["ech"] == "rejected" and summary["ech_retried"]
              and "sent no retry configs" in err, describe(rc, summary, rest, err))
    # bssl-tool's own server, with a key it made.
    subprocess.run(["bssl-tool", "generate-ech", "-out-ech-config-list", path("bssl.list"),
                    "-out-ech-config", path("bssl.config"), "-out-private-key", path("bssl.key"),
                    "-public-name", "public.example", "-config-id", "1", "-max-name-length", "0"],
                   check=True, capture_output=True, timeout=30)
    with BsslServer("-key", path("ech.key"), "-cert", path("ech.pem"), "-ech-key", path("bssl.key"),
                    "-ech-config", path("bssl.config")) as bssl_server:
        rc, summary, rest, err = client(bssl_server.port, "--ech-config-list", path("bssl.list"), "--send", "x",
                                        "--timeout", "2")
        check("client --ech-config-list against bssl-tool server: ECH accepted",
              summary is not None and summary["ech"] == "accepted" and not summary["ech_retried"],
              describe(rc, summary, rest, err))
        rc, summary, rest, err = client(bssl_server.port, "--ech-config-list", path("ech.list"), "--send", "x",
                                        "--timeout", "2")
        check("against bssl-tool server with another key's config: rejected, retried, accepted",
              summary is not None and summary["ech"] == "accepted" and summary["ech_retried"],
              describe(rc, summary, rest, err) + "\n" + bssl_server.output()[-1500:])
    with open(path("garbage.list"), "wb") as f:
        f.write(b"\x00\x05nope!")
    rc, out, err = run(["client", "localhost", "1", "--ech-config-list", path("garbage.list")])
    check("client --ech-config-list with garbage: exit 1, naming the file",
          rc == 1 and "garbage.list" in err and "ECHConfigList" in err, "exit %r\n%r" % (rc, err))
    rc, out, err = run(["server", *ech_cert, "--ech-key", path("ech.list")])
    check("server --ech-key with a file that is not a key: exit 1 before listening",
          rc == 1 and out == b"" and "ECH key file" in err, "exit %r\n%r\n%r" % (rc, out, err))
    rc, out, err = run(["ech-keygen", "--public-name", "127.0.0.1", "--key-out", path("x.pem"),
                        "--config-out", path("x.list")])
    check("ech-keygen --public-name 127.0.0.1: refused (exit 1), saying why",
          rc == 1 and "not a public name ECH allows" in err, "exit %r\n%r" % (rc, err))
    rc, out, err = run(["ech-keygen", "--public-name", "a.example"])
    check("ech-keygen without --key-out: a usage error", rc == 2 and "--key-out" in err, "exit %r\n%r" % (rc, err))


def check_client_certificates():
    with Server("--cafile", path("ca.pem"), "--verify-client") as server:
        for version in ("TLSv1.3", "TLSv1.2"):
            rc, summary, rest, err = client(server.port, "--cert", path("client.pem"), "--key",
                                            path("client.key"), "--max-version", version, "--send", "cert")
            check("--verify-client %s: a client with a certificate is served" % version,
                  rc == 0 and rest == b"cert", describe(rc, summary, rest, err))
            rc, summary, rest, err = client(server.port, "--max-version", version, "--send", "nocert")
            check("--verify-client %s: a client without one is refused (exit 1, message)" % version,
                  rc == 1 and rest == b"" and err.strip() != "", describe(rc, summary, rest, err))
            if os.environ.get("CLI_TEST_VERBOSE"):
                print("  client said: " + err.strip())
        log = server.wait_log(lambda log: log.count("dropped") >= 2)
        check("--verify-client: the server logged the refusals and is still running",
              server.alive() and "dropped" in log and "CERTIFICATE" in log.upper(), log)


    with Server("--cafile", path("ca.pem")) as server:
        rc, summary, rest, err = client(server.port, "--send", "optional")
        check("--cafile without --verify-client: a client without a certificate is served",
              rc == 0 and rest == b"optional", describe(rc, summary, rest, err))
        rc, summary, rest, err = client(server.port, "--cert", path("server.pem"), "--key",
                                        path("server.key"), "--send", "wrong purpose")
        check("--cafile without --verify-client: a certificate that is not for clients is refused",
              rc == 1, describe(rc, summary, rest, err))


def http_get_python(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with python_client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            reply = b""
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                reply += data
            return reply, tls.version(), tls.cipher()[0]


def http_get_bio(port, pieces, byte_at_a_time=False, maximum_version=None):
    """Sends the request |pieces| with Python's SSLObject, each piece its own
    record, all in one write together with the client's Finished (TLS 1.3:
    the client's last handshake flight), or one byte per TCP write; returns
    the reply, the version and the cipher."""
    context = python_client_context()
    if maximum_version is not None:
        context.maximum_version = maximum_version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send(data):
            if byte_at_a_time:
                for i in range(len(data)):
                    raw.sendall(data[i:i + 1])
            else:
                raw.sendall(data)

        def receive():
            data = raw.recv(65536)
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()
            return bool(data)

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                send(outgoing.read())
                if not receive():
                    raise ConnectionError("the server closed during the handshake")
        for piece in pieces:
            tls.write(piece)
        send(outgoing.read())  # the Finished (TLS 1.3) and the request, together
        reply = b""
        while True:
            try:
                data = tls.read(65536)
            except ssl.SSLWantReadError:
                if not receive():
                    break
                continue
            except ssl.SSLZeroReturnError:
                break
            if not data:  # the server's close_notify
                break
            reply += data
        return reply, tls.version(), tls.cipher()[0]


def http_ok(reply, version, cipher):
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(l.split(b": ", 1) for l in lines[1:] if b": " in l)
    return (lines[0] == b"HTTP/1.0 200 OK" and headers.get(b"Content-Type", b"").startswith(b"text/plain")
            and headers.get(b"Content-Length") == str(len(body)).encode()
            and b"sanstls" in body and version.encode() in body and cipher.encode() in body)


def check_http():
    with Server("--http") as server:
        try:
            reply, version, cipher = http_get_python(server.port)
            check("--http: answers Python's ssl client (200, text/plain, length, version, cipher)",
                  http_ok(reply, version, cipher), repr(reply))
        except Exception as e:
            check("--http: answers Python's ssl client", False, repr(e))

        # Lines ending in a bare LF (RFC 9112 section 2.2), a mix, and empty
        # lines before the request line; requests split across records and
        # sent with the client's Finished; one byte per TCP write; TLS 1.2.
        cases = [
            ("bare LF", [b"GET / HTTP/1.0\n\n"], {}),
            ("mixed line ends", [b"GET / HTTP/1.0\r\nHost: localhost\n\r\n"], {}),
            ("empty lines first", [b"\r\n\nGET / HTTP/1.0\r\n\r\n"], {}),
            ("split across records, with the Finished",
             [b"GE", b"T / HTTP/1.0\r", b"\nHost: localhost\r\n", b"\r", b"\n"], {}),
            ("one byte per TCP write", [b"GET / HTTP/1.0\r\n\r\n"], {"byte_at_a_time": True}),
            ("TLS 1.2, bare LF", [b"GET / HTTP/1.0\n", b"\n"],
             {"maximum_version": ssl.TLSVersion.TLSv1_2}),
        ]
        for name, pieces, options in cases:
            try:
                reply, version, cipher = http_get_bio(server.port, pieces, **options)
                check("--http: answers a request: " + name, http_ok(reply, version, cipher), repr(reply))
            except Exception as e:
                check("--http: answers a request: " + name, False, repr(e))

        rc, summary, rest, err = client(server.port, "--send", "GET / HTTP/1.0\r\n\r\n")
        check("--http: answers `sanstls client`, which stops at the server's close_notify",
              rc == 0 and summary and http_ok(rest, summary["version"], summary["cipher"])
              and "warning" not in err, describe(rc, summary, rest, err))

        curl = "/usr/bin/curl"
        if os.path.exists(curl):
            try:
                p = subprocess.run([curl, "-sS", "--max-time", "10", "--cacert", path("ca.pem"),
                                    "--resolve", "localhost:%d:127.0.0.1" % server.port,
                                    "https://localhost:%d/" % server.port],
                                   capture_output=True, timeout=20)
                check("--http: answers curl", p.returncode == 0 and b"sanstls" in p.stdout,
                      "exit %d, %r %r" % (p.returncode, p.stdout, p.stderr))
            except subprocess.TimeoutExpired:
                check("--http: answers curl", False, "curl timed out")
        else:
            print("NOTE /usr/bin/curl is not installed: the curl check is skipped", flush=True)

    with Server("--http", "--max-connections", "2") as server:
        try:
            for _ in range(2):
                http_get_python(server.port)
            rc = server.proc.wait(timeout=10)
            check("--max-connections 2: exits 0 after two connections", rc == 0, "exit %r" % rc)
        except Exception as e:
            check("--max-connections 2: exits 0 after two connections", False, repr(e))


def check_concurrency(server):
    count = 20
    barrier = threading.Barrier(count, timeout=20)
    results = [None] * count

    def one(i):
        payload = (b"client %02d " % i) * 6000
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as raw:
                with python_client_context().wrap_socket(raw, server_hostname="localhost") as tls:
                    # Every handshake is done before anyone sends: one
                    # connection at a time would never get here.
                    barrier.wait()
                    tls.sendall(payload)
                    back = b""
                    while len(back) < len(payload):
                        data = tls.recv(65536)
                        if not data:
                            break
                        back += data
                    tls.unwrap()
                    results[i] = back == payload or "echo differs (%d of %d bytes)" % (len(back), len(payload))
        except Exception as e:
            results[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    bad = [(i, r) for i, r in enumerate(results) if r is not True]
    check("20 concurrent Python ssl clients are all echoed correctly", not bad, repr(bad))


def check_misbehaving(server):
    hello_obj = python_client_context().wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(),
                                                 server_hostname="localhost")
    try:
        hello_obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()

    silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)  # never says anything
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try:
                while s.recv(4096):
                    pass
                closed = True
            except socket.timeout:
                closed = False
            except ConnectionResetError:
                closed = True
        check("a client sending plaintext garbage is dropped", closed)

        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(hello[: len(hello) // 2])
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(hello)
            time.sleep(0.05)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(os.urandom(3000))
            try:
                s.recv(4096)
            except OSError:
                pass
        for _ in range(3):  # connect and leave at once
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()

        rc, summary, rest, err = client(server.port, "--send", "still here")
        check("after garbage, half handshakes and resets (and with a silent client connected) "
              "the next client is served", rc == 0 and rest == b"still here" and server.alive(),
              describe(rc, summary, rest, err))
    finally:
        silent.close()
    log = server.wait_log(lambda log: log.count("dropped") >= 3)
    check("the server logged the misbehaving clients and is still running",
          server.alive() and log.count("dropped") >= 3, log)
    if os.environ.get("CLI_TEST_VERBOSE"):
        print(log)


def check_client_errors(server):
    rc, summary, rest, err = client(server.port, "--cafile", path("other_ca.pem"), "--send", "x")
    check("untrusted server: exit 1, verify message on stderr and in the JSON line",
          rc == 1 and "certificate verify failed" in err and err.count("\n") == 1
          and summary and "certificate verify failed" in summary["verify"] and summary["version"] is None,
          describe(rc, summary, rest, err))
    rc, summary, rest, err = client(server.port, "--servername", "wrong.example", "--send", "x")
    check("wrong server name: exit 1 with the hostname mismatch",
          rc == 1 and "certificate verify failed" in err and "wrong.example" in err,
          describe(rc, summary, rest, err))
    port = free_port()
    rc, summary, rest, err = client(port, "--send", "x")
    check("refused port: exit 1 with 'Connection refused'",
          rc == 1 and "connection refused" in err.lower() and err.count("\n") == 1 and rest == b"",
          describe(rc, summary, rest, err))
    rc, _, err = run(["get-server-certificate", "127.0.0.1", str(port)])
    check("get-server-certificate on a refused port: exit 1", rc == 1 and "refused" in err.lower(),
          "exit %d, %r" % (rc, err))


def check_get_server_certificate(server):
    with open(path("server.pem")) as f:
        expected = ssl.PEM_cert_to_DER_cert(f.read())
    for extra in ([], ["--cafile", path("ca.pem")]):
        rc, out, err = run(["get-server-certificate", "localhost", str(server.port)] + extra)
        try:
            got = ssl.PEM_cert_to_DER_cert(out.decode())
        except Exception:
            got = None
        check("get-server-certificate%s equals the server's certificate" % "".join(
            " " + os.path.basename(e) for e in extra), rc == 0 and got == expected, "exit %d, %r %r" % (rc, out, err))
    rc, out, err = run(["get-server-certificate", "localhost", str(server.port), "--cafile",
                        path("other_ca.pem")])
    check("get-server-certificate with the wrong --cafile: exit 1",
          rc == 1 and "certificate verify failed" in err, "exit %d, %r" % (rc, err))


def check_against_python():
    with PythonEchoServer() as py:
        for version in ("TLSv1.3", "TLSv1.2"):
            rc, summary, rest, err = client(py.port, "--max-version", version, "--alpn", "http/1.1",
                                            "--send", "to python")
            check("client against Python's ssl echo server, %s" % version,
                  rc == 0 and summary and summary["version"] == version and summary["alpn"] == "http/1.1"
                  and summary["verify"] == "ok" and rest == b"to python" and "warning" not in err,
                  describe(rc, summary, rest, err))
        finished = py.wait_finished(2)
        check("Python's echo server saw clean closes (close_notify both ways)", finished == 2 and not py.errors,
              "%d of 2 connections ended; errors %r" % (finished, py.errors))


def check_signals():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with Server() as server:
            server.proc.send_signal(sig)
            try:
                rc = server.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = "still running"
            check("%s stops the server with exit 0" % sig.name, rc == 0, "exit %r, %s" % (rc, server.stderr()))


def main():
    global TOOL, TMP
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    TOOL = os.path.abspath(sys.argv[1])
    if shutil.which("openssl") is None:
        print("FAIL the openssl command is needed to make the certificates")
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sanstls-cli-") as TMP:
        make_certificates()
        check_usage()
        with Server("--alpn", "h2,http/1.1") as server:
            check_echo(server)
            check_resumption(server)
            check_concurrency(server)
            check_misbehaving(server)
            check_client_errors(server)
            check_get_server_certificate(server)
            check("the echo server ran through all of the above", server.alive(), server.stderr())
            rc = server.terminate()
            log = server.stderr()
            check("the echo server then stops on SIGTERM with exit 0 and a clean log",
                  rc == 0 and "runtime error" not in log and "Sanitizer" not in log, "exit %r\n%s" % (rc, log))
        check_client_certificates()
        check_early_data()
        check_status()
        check_compression()
        check_ech()
        check_http()
        check_against_python()
        check_signals()
    print("%d checks, %d passed, %d failed in %.1f s" % (PASSED + len(FAILURES), PASSED, len(FAILURES),
                                                        time.monotonic() - started))
    for name in FAILURES:
        print("  failed: " + name)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
