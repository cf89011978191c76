#!/usr/bin/env python3
"""Python's ssl as the oracle for certificate decoding.

  cert_oracle.py der FILE...   print "<hex DER of FILE's first PEM certificate>"
                               per FILE, one line each, in order
  cert_oracle.py compare       read {"FILE": <sanstls JSON>, ...} on stdin;
                               print "OK FILE" or "DIFF FILE" plus both
                               decodings, one file per line
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
    if sys.argv[1] == "der":
        for path in sys.argv[2:]:
            pem = first_pem_certificate(path)
            print(ssl.PEM_cert_to_DER_cert(pem).hex() if pem else "-")
        return 0
    status = 0
    for path, ours in json.loads(sys.stdin.read()).items():
        theirs = json.loads(json.dumps(ssl._ssl._test_decode_cert(path)))
        if ours == theirs:
            print("OK " + path)
        else:
            status = 1
            print("DIFF %s python=%s sanstls=%s" % (
                path, json.dumps(theirs, sort_keys=True), json.dumps(ours, sort_keys=True)))
    return status


if __name__ == "__main__":
    sys.exit(main())
