#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
"""Final primary and backup GPT of the canonical eMMC layout for a disk of
DISK_SECTORS 512-byte sectors: the bytes a flash of the generated eMMC
package must leave at LBA 0-33 and at the last 33 sectors once patch0.xml is
applied. Built from the table directly, not by applying patch0.xml, so a test
can compare the two.

  expected_gpt.py DISK_SECTORS [--primary FILE] [--backup FILE]

Prints the sha256 of both; writes them when asked. As a module:
expected_gpt.final(disk_sectors) -> (primary 34 sectors, backup 33 sectors).
"""

import argparse
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkglib as L  # noqa: E402


def final(disk_sectors):
    if disk_sectors < L.EMMC_TABLE[-1][1] + 34 + 1:
        raise ValueError("disk of %d sectors is too small for the canonical layout"
                         % disk_sectors)
    return L.gpt_main(disk_sectors), L.gpt_backup(disk_sectors)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("disk_sectors", type=int)
    ap.add_argument("--primary")
    ap.add_argument("--backup")
    a = ap.parse_args()
    pri, bak = final(a.disk_sectors)
    if a.primary:
        L.write_file(a.primary, pri)
    if a.backup:
        L.write_file(a.backup, bak)
    print("primary LBA 0-33: sha256 %s" % hashlib.sha256(pri).hexdigest())
    print("backup  LBA %d-%d: sha256 %s" % (a.disk_sectors - 33, a.disk_sectors - 1,
                                            hashlib.sha256(bak).hexdigest()))


if __name__ == "__main__":
    main()
