#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Make a rawprogram manifest that Debian's qdl (2022) can flash.

That qdl writes a sparse="true" file as it is: the Android sparse container
lands on the device. A sparse-aware flasher writes each RAW and FILL chunk
at its offset and leaves DONT_CARE ranges alone; this script does that
expansion ahead of time, one <program> per chunk run, with the chunk data
in files next to the manifest. Everything else is copied unchanged.

  qdl-manifest.py FIREHOSE_DIR rawprogram0.xml OUT.xml
"""
import os
import struct
import sys
import xml.etree.ElementTree as ET

SPARSE_MAGIC = 0xED26FF3A
RAW, FILL, DONT_CARE, CRC = 0xCAC1, 0xCAC2, 0xCAC3, 0xCAC4


def runs(path):
    """(byte offset, bytes) of the data a sparse file puts on the device."""
    with open(path, "rb") as f:
        magic, major, _minor, fh, ch, blk, total, nchunks, _crc = \
            struct.unpack("<IHHHHIIII", f.read(28))
        if magic != SPARSE_MAGIC or major != 1:
            sys.exit("%s: not an Android sparse image" % path)
        f.seek(fh)
        out = 0
        for _ in range(nchunks):
            ctype, _res, nblk, tot = struct.unpack("<HHII", f.read(12))
            f.seek(ch - 12, 1)
            size = nblk * blk
            if ctype == RAW:
                yield out, f.read(size)
            elif ctype == FILL:
                yield out, f.read(4) * (size // 4)
            elif ctype == CRC:
                f.seek(tot - ch, 1)
                continue
            elif ctype != DONT_CARE:
                sys.exit("%s: bad chunk type %#x" % (path, ctype))
            out += size
        if out != total * blk:
            sys.exit("%s: chunks do not add up" % path)


def main():
    fhdir, src, dst = sys.argv[1:4]
    tree = ET.parse(os.path.join(fhdir, src))
    root = tree.getroot()
    for i, el in enumerate(list(root)):
        if el.tag != "program" or el.get("sparse", "false").lower() != "true":
            continue
        sector = int(el.get("SECTOR_SIZE_IN_BYTES", "512"))
        base = int(el.get("start_sector"))
        pos = list(root).index(el)
        root.remove(el)
        for n, (off, data) in enumerate(runs(os.path.join(fhdir, el.get("filename")))):
            name = "%s.qdl%d" % (el.get("filename"), n)
            with open(os.path.join(fhdir, name), "wb") as f:
                f.write(data)
            new = ET.Element("program", dict(el.attrib))
            new.set("filename", name)
            new.set("sparse", "false")
            new.set("start_sector", str(base + off // sector))
            new.set("num_partition_sectors", str((len(data) + sector - 1) // sector))
            new.set("file_sector_offset", "0")
            new.set("start_byte_hex", hex((base * sector) + off))
            new.set("size_in_KB", "%.1f" % (len(data) / 1024))
            root.insert(pos, new)
            pos += 1
    tree.write(os.path.join(fhdir, dst), xml_declaration=True, encoding="utf-8")


if __name__ == "__main__":
    main()
