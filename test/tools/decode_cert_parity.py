#!/usr/bin/env python3
"""`sanstls decode-cert FILE` against Python's ssl._ssl._test_decode_cert(FILE).

usage: decode_cert_parity.py SANSTLS_TOOL

For every file of Python's own test certificates (certdata), and for a set of
broken and unusual PEM files made here: where Python decodes the file, the
tool must print the same JSON; where Python refuses it, the tool must fail
with status 1 and a message on stderr. Prints one line per file, then
"N files compared, M equal"; exits 1 on any difference or if certdata cannot
be found.
"""
import base64
import concurrent.futures
import json
import os
import pathlib
import ssl
import subprocess
import sys
import tempfile


def find_certdata():
    """Python's test certificates: test/certdata upstream, flat in test/ in
    Debian's libpython3.11-testsuite (as certificate_test.cpp finds them).
    Returns (folder, files, where it looked)."""
    try:
        import test
    except ImportError as e:
        return None, [], "no 'test' package (%s)" % e
    test_dir = pathlib.Path(test.__file__).parent
    if (test_dir / "certdata" / "keycert.pem").exists():
        root = test_dir / "certdata"
        files = [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    elif (test_dir / "keycert.pem").exists():
        # The flat folder also holds every test module: take the data files.
        root = test_dir
        files = [p for p in root.iterdir() if p.is_file() and p.suffix in (".pem", ".crl", ".der")]
        if (root / "capath").is_dir():
            files += [p for p in (root / "capath").iterdir() if p.is_file()]
    else:
        return None, [], "%s and %s" % (test_dir / "certdata", test_dir)
    return root, sorted(files), str(root)


def python_decode(path):
    """('ok', decoded dict as JSON would give it) or ('error', message)."""
    try:
        return "ok", json.loads(json.dumps(ssl._ssl._test_decode_cert(str(path))))
    except (ssl.SSLError, OSError, ValueError) as e:
        return "error", "%s: %s" % (type(e).__name__, e)


def run_tool(tool, args):
    try:
        p = subprocess.run([tool] + args, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return -999, b"", b"timed out"
    return p.returncode, p.stdout, p.stderr


def describe_tool(rc, out, err):
    return "exit %d, stdout %r, stderr %r" % (rc, out.decode("utf-8", "replace"),
                                              err.decode("utf-8", "replace"))


def verdict(name, path, expected, tool_result, must_say=()):
    """(equal, line) for one file."""
    rc, out, err = tool_result
    kind, python = expected
    if kind == "ok":
        try:
            ours = json.loads(out) if rc == 0 else None
        except ValueError:
            ours = None
        if rc == 0 and ours == python and not err:
            return True, "OK " + name
        return False, "DIFF %s\n  python:  %s\n  sanstls: %s%s" % (
            name, json.dumps(python, sort_keys=True),
            json.dumps(ours, sort_keys=True) + " " if ours is not None else "",
            describe_tool(rc, out, err))
    message = err.decode("utf-8", "replace").strip()
    missing = [s for s in must_say if s not in message]
    if rc == 1 and not out and message and "\n" not in message and not missing:
        return True, "OK %s (both refuse: %s)" % (name, message)
    why = "the message lacks %r; " % missing if missing else ""
    return False, "DIFF %s\n  python:  refuses (%s)\n  sanstls: %s%s" % (
        name, python, why, describe_tool(rc, out, err))


def mutated(path, old, new):
    """|path|'s text with the first occurrence of |old| replaced by |new|."""
    text = path.read_text(encoding="latin-1")
    assert old in text, (path, old)
    return text.replace(old, new, 1)


def bad_inputs(directory, certdata):
    """(name, path, words the tool's message must contain) for made-up files."""
    text = (certdata / "keycert.pem").read_text()
    cert_pem = text[text.index("-----BEGIN CERTIFICATE-----"):]
    der = ssl.PEM_cert_to_DER_cert(cert_pem)
    b64 = base64.b64encode(der).decode()

    def lines(s, width=64):
        return "\n".join(s[i:i + width] for i in range(0, len(s), width))

    def block(label, body):
        return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, body, label)

    good = block("CERTIFICATE", lines(b64))
    body_lines = lines(b64).split("\n")
    flipped = bytearray(der)
    flipped[0] = 0x31  # a SET, not a certificate's SEQUENCE
    cases = {
        # The inputs the command must refuse clearly.
        "empty": ("", ["empty"]),
        "truncated-no-end": ("-----BEGIN CERTIFICATE-----\n" + "\n".join(body_lines[:8]) + "\n",
                             ["-----END CERTIFICATE-----", "truncated"]),
        "truncated-mid-line": ("-----BEGIN CERTIFICATE-----\n" + lines(b64[:401]) +
                               "\n-----END CERTIFICATE-----\n", ["cut short"]),
        "truncated-der": (block("CERTIFICATE", lines(b64[:400])), ["cut short"]),
        "garbage-body": (block("CERTIFICATE", "this is not base64 at all!"), ["not base64"]),
        "garbage-in-base64": (block("CERTIFICATE", lines(b64[:100] + "*" + b64[100:])),
                              ["'*'", "not base64"]),
        "not-a-certificate-der": (block("CERTIFICATE", lines(base64.b64encode(bytes(flipped))
                                                             .decode())),
                                  ["not a valid certificate"]),
        "empty-block": ("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", ["empty"]),
        "wrong-end-line": (good.replace("END CERTIFICATE", "END PRIVATE KEY"), ["does not end"]),
        "text-only": ("just some text\nno PEM here\n", ["no \"-----BEGIN CERTIFICATE-----\""]),
        "key-only": ((certdata / "keycert.pem").read_text().split("-----BEGIN CERTIFICATE")[0],
                     ["no certificate", "PRIVATE KEY"]),
        "der-file": (der, ["no \"-----BEGIN CERTIFICATE-----\""]),
        "broken-key-first": (block("PRIVATE KEY", "!!!!") + good, ["PRIVATE KEY", "not base64"]),
        "headers": (block("CERTIFICATE", "Proc-Type: 4,ENCRYPTED\n\n" + lines(b64)),
                    ["header"]),
        "blank-line-inside": (block("CERTIFICATE", "\n".join(body_lines[:5]) + "\n\n" +
                                    "\n".join(body_lines[5:])), []),
        "blank-line-before-end": (block("CERTIFICATE", lines(b64) + "\n"), []),
        "blank-line-long-lines": ("-----BEGIN CERTIFICATE-----\n\n" + lines(b64, 76) +
                                  "\n-----END CERTIFICATE-----\n", ["64"]),
        "trusted-certificate": (block("TRUSTED CERTIFICATE", lines(b64)), ["no certificate"]),
        "indented-begin": (" " + good, []),
        # OpenSSL's file BIO reads lines with fgets and measures them with
        # strlen: a line that starts with a NUL byte ends the file.
        "nul-starts-a-line": ("notes\n\x00more notes\n" + good, ["NUL"]),
        # Inputs Python reads: the tool must print the same.
        "trailing-junk-after-end": (good + "junk after the END line\n-----BEGIN JUNK\n\x00\x01",
                                    []),
        "text-before": ("Subject: somebody\nsome notes: here\n\n" + good, []),
        "crlf": (good.replace("\n", "\r\n"), []),
        "utf8-bom": ("\ufeff" + good, []),
        "one-long-line": (block("CERTIFICATE", b64), []),
        "indented-lines": (block("CERTIFICATE", "\n".join("  " + l for l in body_lines)), []),
        "blank-line-after-begin": ("-----BEGIN CERTIFICATE-----\n\n" + lines(b64) +
                                   "\n-----END CERTIFICATE-----\n", []),
        "dash-ends-base64": (block("CERTIFICATE", lines(b64) + "\n-- ignored !!"), []),
        "old-label": (block("X509 CERTIFICATE", lines(b64)), []),
        "trailing-bytes-in-der": (block("CERTIFICATE",
                                        lines(base64.b64encode(der + b"\0junk").decode())), []),
        "two-certificates": (good + (certdata / "pycacert.pem").read_text(), []),
        "nul-inside-a-line": ("notes\x00 -----BEGIN CERTIFICATE-----\n" + good, []),
        # Found by fuzzing against Python: a notBefore that is no time
        # prints as OpenSSL's "Bad time value"; a URI that is not UTF-8 is
        # Python's UnicodeDecodeError.
        "bad-time-value": (mutated(certdata / "nokia.pem", "DTExMDkyMTAwMDAwMFoX",
                                   "DTExMakyMTAwMDAwMFoX"), []),
        "non-utf8-uri": (mutated(certdata / "allsans.pem", "L3Rlc3RjYS9", "L3Rlc3+jYS9"),
                         ["utf-8", "position 33"]),
    }
    made = []
    for name, (content, must_say) in cases.items():
        path = directory / (name + ".pem")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        made.append((name, path, must_say))
    os.mkdir(directory / "a-directory")
    made.append(("a-directory", directory / "a-directory", ["Is a directory"]))
    missing = directory / "missing.pem"
    made.append(("missing-file", missing, [str(missing), "No such file or directory"]))
    return made


def usage_checks(tool):
    """Failures of the command line itself, as strings."""
    failures = []
    rc, out, err = run_tool(tool, ["--help"])
    if rc != 0 or b"decode-cert" not in out:
        failures.append("sanstls --help does not list decode-cert: " + describe_tool(rc, out, err))
    rc, out, err = run_tool(tool, ["decode-cert", "--help"])
    if rc != 0 or b"usage: sanstls decode-cert FILE" not in out:
        failures.append("sanstls decode-cert --help: " + describe_tool(rc, out, err))
    for args in ([], ["a.pem", "b.pem"], ["--bogus"]):
        rc, out, err = run_tool(tool, ["decode-cert"] + args)
        if rc != 2 or b"usage: sanstls decode-cert FILE" not in err or out:
            failures.append("sanstls decode-cert %s: want exit 2 and usage on stderr; %s"
                            % (" ".join(args), describe_tool(rc, out, err)))
    return failures


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    certdata, files, looked_in = find_certdata()
    if certdata is None or not files:
        print("FAIL: Python's test certificates (keycert.pem and the rest) are not in %s; "
              "install Python's test suite (Debian: libpython3.11-testsuite)" % looked_in)
        return 1
    print("certdata: %s (%d files)" % (certdata, len(files)))

    with tempfile.TemporaryDirectory(prefix="sanstls-decode-cert-") as tmp:
        checks = [(str(p.relative_to(certdata)), p, ()) for p in files]
        checks += [("bad-input/" + name, path, must_say)
                   for name, path, must_say in bad_inputs(pathlib.Path(tmp), certdata)]
        expected = [python_decode(path) for _, path, _ in checks]
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
            results = list(pool.map(lambda c: run_tool(tool, ["decode-cert", str(c[1])]), checks))
            failures = usage_checks(tool)

    equal = decoded = refused = 0
    for (name, path, must_say), exp, result in zip(checks, expected, results):
        same, line = verdict(name, path, exp, result, must_say)
        print(line)
        equal += same
        if same:
            decoded += exp[0] == "ok"
            refused += exp[0] != "ok"
    for failure in failures:
        print("DIFF usage: " + failure)
    print("%d files compared, %d equal (%d decoded alike, %d refused by both); "
          "command-line checks: %d failed"
          % (len(checks), equal, decoded, refused, len(failures)))
    return 0 if equal == len(checks) and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
