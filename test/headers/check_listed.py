#!/usr/bin/env python3
"""Check that every header under include/sanstls is in include/sanstls/meson.build.

Usage: check_listed.py INCLUDE_DIR LISTED_INCLUDE_NAME...

The header tests and `meson install` only know the headers listed in
include/sanstls/meson.build (public_headers, testing_headers, version_hpp).
A header that exists but is not listed would be neither installed nor
tested; this names it. version.hpp.in counts as version.hpp.
"""

import os
import sys


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    include_dir, listed = argv[1], set(argv[2:])
    found = set()
    for folder, _, files in os.walk(os.path.join(include_dir, "sanstls")):
        for name in files:
            if name.endswith(".hpp.in"):
                name = name[:-len(".in")]
            if name.endswith(".hpp"):
                found.add(os.path.relpath(os.path.join(folder, name), include_dir))
    missing = sorted(found - listed)
    gone = sorted(listed - found)
    for name in missing:
        print(f"check_listed.py: {name} is not in include/sanstls/meson.build "
              "(public_headers or testing_headers): it is neither installed nor tested")
    for name in gone:
        print(f"check_listed.py: {name} is listed but does not exist")
    if missing or gone:
        return 1
    print(f"all {len(found)} headers under {include_dir}/sanstls are listed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
