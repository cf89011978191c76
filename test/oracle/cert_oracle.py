#!/usr/bin/env python3
"""Python's ssl as the oracle for certificate decoding.

  cert_oracle.py der FILE       print the DER of FILE's first PEM certificate, hex
  cert_oracle.py compare FILE   read sanstls' JSON for FILE on stdin; print OK,
                                or both decodings when they differ
"""
import json
import ssl
import sys


def first_pem_certificate(path):
    text = open(path, encoding="latin-1").read()
    begin = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        return None
    return text[begin:end + len("-----END CERTIFICATE-----")] + "\n"


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "der":
        pem = first_pem_certificate(path)
        print(ssl.PEM_cert_to_DER_cert(pem).hex() if pem else "")
        return 0
    ours = json.loads(sys.stdin.read())
    theirs = json.loads(json.dumps(ssl._ssl._test_decode_cert(path)))
    if ours == theirs:
        print("OK")
        return 0
    print("python:  " + json.dumps(theirs, sort_keys=True))
    print("sanstls: " + json.dumps(ours, sort_keys=True))
    return 1


if __name__ == "__main__":
    sys.exit(main())
