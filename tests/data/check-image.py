#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
"""Check a virtual-modem storage image after flashing a generated package.

  check-image.py --expected PKG/expected.json --image FILE --storage nand|emmc
                 [--disk-sectors N] [--before FILE] [--factory] [--quiet]

The image is the raw storage: NAND main area without OOB, page i at byte
i*4096 (erased = 0xFF); eMMC sector i at byte i*512.

Checks, per partition:
- every programmed range holds exactly the file's bytes; files with patches
  in the package's patch file (the NAND MIBIB image, gpt_main0.bin,
  gpt_backup0.bin) are compared after applying those patches for this
  device size (NUM_DISK_BLOCKS = image pages / 64, NUM_DISK_SECTORS = image
  sectors); an eMMC GPT is also compared against expected_gpt.py;
- NAND: a program writes whole pages, so a file's last page is compared
  padded with 0xFF; the rest of every erased or programmed partition must
  be erased (0xFF);
- eMMC: sparse images are compared chunk by chunk (RAW and FILL bytes; a
  DONT_CARE chunk must be left as it was before, like the rest of a
  partition after its file);
- ranges no manifest element covers (NAND: EFS2, SYS_REV, RAWDATA, SEC,
  scrub, image_back, misc, sys_back; eMMC: modemst1/2, fsg, fsc, persist,
  userdata, gaps) must be unchanged against --before (skipped without it).
With --factory (NAND) the factory manifest's extra erases (EFS2) are
expected instead of "unchanged". NAND bad blocks (--bad-blocks, or the
virtual modem's sidecar IMAGE.badblocks) are skipped like the programmer
skips them: a partition's data continues in its next good block, and bad
blocks themselves are not compared.

Reads only the ranges it needs and skips holes of sparse files (SEEK_DATA),
so a 4 GiB eMMC image is checked quickly. Exit 0 when all is good, 1 at
the first mismatch (reported with partition and byte offset), 2 on usage
errors.
"""

import argparse
import hashlib
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkglib as L  # noqa: E402

CHUNK = 1 << 20


class Mismatch(Exception):
    def __init__(self, part, off, img_off, want, got, what):
        super().__init__()
        self.part, self.off, self.img_off = part, off, img_off
        self.want, self.got, self.what = want, got, what

    def __str__(self):
        return ("partition %s: %s differs at byte offset %d (image offset %d): "
                "expected 0x%02x, found 0x%02x"
                % (self.part, self.what, self.off, self.img_off, self.want, self.got))


class Image:
    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self.fd).st_size

    def read(self, off, n):
        if off < 0 or off + n > self.size:
            raise ValueError("%s: range %d+%d outside the image (%d bytes)"
                             % (self.path, off, n, self.size))
        out = bytearray()
        while len(out) < n:
            b = os.pread(self.fd, min(CHUNK, n - len(out)), off + len(out))
            if not b:
                raise ValueError("%s: short read" % self.path)
            out += b
        return bytes(out)

    def data_segments(self, start, end):
        """(a, b) sub-ranges of [start, end) that may hold data (holes skipped)."""
        segs = []
        pos = start
        while pos < end:
            try:
                d = os.lseek(self.fd, pos, os.SEEK_DATA)
            except OSError:
                break                       # ENXIO: only a hole until EOF
            if d >= end:
                break
            try:
                h = os.lseek(self.fd, d, os.SEEK_HOLE)
            except OSError:
                h = end
            segs.append((d, min(h, end)))
            pos = h
        return segs


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


def compare_bytes(img, off, want, part, part_off, what):
    for i in range(0, len(want), CHUNK):
        w = want[i:i + CHUNK]
        g = img.read(off + i, len(w))
        if g != w:
            j = first_diff(g, w)
            raise Mismatch(part, part_off + i + j, off + i + j, w[j], g[j], what)


def compare_fill(img, off, n, byte, part, part_off, what):
    pat = bytes([byte]) * min(CHUNK, max(n, 1))
    done = 0
    while done < n:
        k = min(CHUNK, n - done)
        g = img.read(off + done, k)
        if g != pat[:k]:
            j = first_diff(g, pat[:k])
            raise Mismatch(part, part_off + done + j, off + done + j, byte, g[j], what)
        done += k


def compare_unchanged(img, before, off, n, part, part_off, what):
    """Compare [off, off+n) of img and before, skipping ranges that are holes
    in both files."""
    segs = sorted(img.data_segments(off, off + n) + before.data_segments(off, off + n))
    merged = []
    for a, b in segs:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    for a, b in merged:
        for p in range(a, b, CHUNK):
            k = min(CHUNK, b - p)
            g, w = img.read(p, k), before.read(p, k)
            if g != w:
                j = first_diff(g, w)
                raise Mismatch(part, p - off + part_off + j, p + j, w[j], g[j], what)


def sparse_chunks(path):
    """Yield (type, out_offset, size, data_or_fill) from an Android sparse file."""
    with open(path, "rb") as f:
        hdr = f.read(28)
        magic, major, _mi, fh, ch, blk, total, nchunks, _c = \
            struct.unpack("<IHHHHIIII", hdr)
        if magic != L.SPARSE_MAGIC or major != 1:
            raise ValueError("%s: not an Android sparse image" % path)
        f.seek(fh)
        out = 0
        for _ in range(nchunks):
            ctype, _r, nblk, tot = struct.unpack("<HHII", f.read(12))
            f.seek(ch - 12, 1)
            body_len = tot - ch
            size = nblk * blk
            if ctype == L.CHUNK_RAW:
                yield ("raw", out, size, f)     # caller reads `size` bytes from f
            elif ctype == L.CHUNK_FILL:
                yield ("fill", out, size, f.read(4))
            elif ctype == L.CHUNK_DONT_CARE:
                yield ("dont_care", out, size, None)
            elif ctype == L.CHUNK_CRC:
                f.seek(body_len, 1)
                continue
            else:
                raise ValueError("%s: bad chunk type %#x" % (path, ctype))
            out += size if ctype != L.CHUNK_CRC else 0
        if out != total * blk:
            raise ValueError("%s: chunks do not add up" % path)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--storage", choices=("nand", "emmc"), required=True)
    ap.add_argument("--disk-sectors", type=int,
                    help="device size in sectors (default: image size / sector size)")
    ap.add_argument("--before", help="copy of the image taken before the flash")
    ap.add_argument("--factory", action="store_true",
                    help="the factory manifest was flashed (NAND: EFS2 erased)")
    ap.add_argument("--bad-blocks", metavar="FILE|LIST",
                    help="NAND bad blocks (default: IMAGE.badblocks if it exists)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    with open(a.expected) as f:
        exp = json.load(f)
    pkg = os.path.dirname(os.path.abspath(a.expected))
    if exp["storage"] != a.storage:
        print("check-image: expected.json is for %s, not %s" % (exp["storage"], a.storage),
              file=sys.stderr)
        return 2
    img = Image(a.image)
    before = Image(a.before) if a.before else None
    ss = exp["sector_size"]
    disk_sectors = a.disk_sectors or img.size // ss
    if disk_sectors * ss > img.size:
        print("check-image: image has %d bytes, fewer than %d sectors"
              % (img.size, disk_sectors), file=sys.stderr)
        return 2
    if before is not None and before.size != img.size:
        print("check-image: --before has %d bytes, image %d" % (before.size, img.size),
              file=sys.stderr)
        return 2
    disk_blocks = disk_sectors // exp.get("pages_per_block", 1) \
        if a.storage == "nand" else None

    report = []
    failure = None

    def run(name, rng, desc, fn):
        nonlocal failure
        try:
            fn()
            report.append(("skip" if "not checked" in desc else "ok", name, rng, desc))
        except Mismatch as m:
            report.append(("FAIL", name, rng, "%s: %s" % (desc, m)))
            if failure is None:
                failure = m

    if a.storage == "nand":
        bad = load_bad_blocks(a.bad_blocks, a.image)
        if bad:
            report.append(("info", "(bad blocks)", "", " ".join(str(b) for b in sorted(bad))))
        check_nand(exp, pkg, img, before, disk_sectors, disk_blocks, a.factory, run, bad)
    else:
        check_emmc(exp, pkg, img, before, disk_sectors, run)

    if not a.quiet or failure:
        for st, name, rng, desc in report:
            print("%-4s %-12s %-22s %s" % (st, name, rng, desc))
    if failure:
        print("check-image: FAILED: %s" % failure)
        return 1
    print("check-image: OK (%s, %d sectors, %d checks%s)"
          % (a.storage, disk_sectors, sum(r[0] == "ok" for r in report),
             "" if before else ", unchanged ranges not checked: no --before"))
    return 0


def file_bytes(pkg, prog, patches, disk_sectors, disk_blocks):
    with open(os.path.join(pkg, prog["path"]), "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != prog["sha256"]:
        raise SystemExit("check-image: %s changed since expected.json was written"
                         % prog["path"])
    if prog.get("file_patches"):
        data = L.apply_file_patches(data, os.path.basename(prog["path"]), patches,
                                    disk_sectors=disk_sectors, disk_blocks=disk_blocks)
    return data


def load_bad_blocks(spec, image):
    """Bad blocks: --bad-blocks (a file or a comma list), else the virtual
    modem's sidecar IMAGE.badblocks (one block number a line, '#' comments)."""
    text = None
    if spec:
        if os.path.isfile(spec):
            text = open(spec).read()
        else:
            text = spec.replace(",", "\n")
    elif os.path.isfile(image + ".badblocks"):
        text = open(image + ".badblocks").read()
    bad = set()
    for line in (text or "").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            bad.add(int(line))
    return bad


def nand_compare_part(img, name, good, data, what, block):
    """The partition's good blocks, in order, hold data then erased bytes
    (the programmer skips bad blocks)."""
    if len(data) > len(good) * block:
        raise Mismatch(name, len(good) * block, -1, 0, 0,
                       "%s larger than the partition's good blocks" % what)
    for j, b in enumerate(good):
        lo = j * block
        seg = data[lo:lo + block]
        if seg:
            compare_bytes(img, b * block, seg, name, lo, what)
        if len(seg) < block:
            compare_fill(img, b * block + len(seg), block - len(seg), 0xFF, name,
                         lo + len(seg), "erased rest")


def check_nand(exp, pkg, img, before, disk_sectors, disk_blocks, factory, run, bad):
    ss = exp["sector_size"]
    ppb = exp["pages_per_block"]
    block = ss * ppb
    pad = exp.get("pad_byte", 0xFF)
    parts = L.nand_partitions(disk_blocks)
    erases = list(exp["erases"])
    if factory:
        erases += exp.get("factory_extra_erases", [])
    progs = {}
    for pr in exp["programs"]:
        progs.setdefault(pr["label"].lower(), []).append(pr)
    erased = {e["label"].lower() for e in erases}
    for p in parts:
        name = p["name"]
        key = name.lower()
        first, nblk = p["first_block"], p["blocks"]
        good = [b for b in range(first, first + nblk) if b not in bad]
        nbad = nblk - len(good)
        rng = "%d-%d" % (p["start_sector"], (first + nblk) * ppb - 1)
        note = " [%d bad block%s skipped]" % (nbad, "s" if nbad > 1 else "") if nbad else ""
        plist = progs.get(key, [])
        if plist:
            pr = plist[-1]
            if pr["start_sector"] != p["start_sector"]:
                raise SystemExit("check-image: %s programmed at sector %d, partition "
                                 "starts at %d" % (name, pr["start_sector"], p["start_sector"]))
            data = file_bytes(pkg, pr, exp["patches"], disk_sectors, disk_blocks)
            padded = data + bytes([pad]) * ((-len(data)) % ss)
            run(name, rng, "program %s (%d B%s) + erased rest%s"
                % (os.path.basename(pr["path"]), pr["size"],
                   ", patched" if pr.get("file_patches") else "", note),
                lambda good=good, padded=padded, name=name, pr=pr:
                nand_compare_part(img, name, good, padded, os.path.basename(pr["path"]),
                                  block))
        elif key in erased:
            run(name, rng, "erased" + note, lambda good=good, name=name:
                nand_compare_part(img, name, good, b"", "erased partition", block))
        elif before is not None:
            def chk(good=good, name=name, first=first):
                for b in good:
                    compare_unchanged(img, before, b * block, block, name,
                                      (b - first) * block, "untouched")
            run(name, rng, "untouched%s%s" % (" (protected)" if p["protected"] else "", note),
                chk)
        else:
            run(name, rng, "untouched: not checked (no --before)", lambda: None)


def eval_sector(v, disk_sectors):
    return v if isinstance(v, int) else L.eval_expr(str(v), disk_sectors=disk_sectors)


def check_emmc(exp, pkg, img, before, disk_sectors, run):
    import expected_gpt
    ss = exp["sector_size"]
    parts = L.emmc_partitions(disk_sectors)
    pri, bak = expected_gpt.final(disk_sectors)
    regions = []        # (start, end, name, kind, prog)
    for p in parts:
        regions.append((p["start_sector"] * ss, (p["last_sector"] + 1) * ss, p["name"], p))
    regions.append((0, 34 * ss, "PrimaryGPT", None))
    regions.append(((disk_sectors - 33) * ss, disk_sectors * ss, "BackupGPT", None))
    progs = {pr["label"].lower(): pr for pr in exp["programs"]}
    covered = []
    for start, end, name, p in regions:
        rng = "%d-%d" % (start // ss, end // ss - 1)
        pr = progs.get(name.lower())
        covered.append((start, end))
        if pr is None:
            if before is not None:
                run(name, rng, "untouched%s" % (" (protected)" if p and p["protected"] else ""),
                    lambda start=start, end=end, name=name:
                    compare_unchanged(img, before, start, end - start, name, 0, "untouched"))
            else:
                run(name, rng, "untouched: not checked (no --before)", lambda: None)
            continue
        pstart = eval_sector(pr["start_sector"], disk_sectors) * ss
        if pstart != start:
            raise SystemExit("check-image: %s programmed at %d, region starts at %d"
                             % (name, pstart, start))
        if pr.get("sparse"):
            def chk(start=start, end=end, name=name, pr=pr):
                last = 0
                for kind, off, size, src in sparse_chunks(os.path.join(pkg, pr["path"])):
                    if kind == "raw":
                        done = 0
                        while done < size:
                            k = min(CHUNK, size - done)
                            compare_bytes(img, start + off + done, src.read(k), name,
                                          off + done, "sparse RAW chunk")
                            done += k
                    elif kind == "fill":
                        want = src * (min(CHUNK, size) // 4)
                        for d in range(0, size, len(want)):
                            k = min(len(want), size - d)
                            compare_bytes(img, start + off + d, want[:k], name, off + d,
                                          "sparse FILL chunk")
                    elif before is not None:
                        compare_unchanged(img, before, start + off, size, name, off,
                                          "sparse DONT_CARE chunk (must be untouched)")
                    last = off + size
                if before is not None:
                    compare_unchanged(img, before, start + last, end - start - last, name,
                                      last, "rest after the image")
            run(name, rng, "sparse %s (%d B expanded)" %
                (os.path.basename(pr["path"]), pr["expanded_size"]), chk)
            continue
        data = file_bytes(pkg, pr, exp["patches"], disk_sectors, None)
        if name == "PrimaryGPT" and data != pri:
            raise SystemExit("check-image: patch0.xml applied to gpt_main0.bin does not give "
                             "expected_gpt.py's primary GPT (generator bug)")
        if name == "BackupGPT" and data != bak:
            raise SystemExit("check-image: patch0.xml applied to gpt_backup0.bin does not give "
                             "expected_gpt.py's backup GPT (generator bug)")
        padded = data + bytes([exp.get("pad_byte", 0)]) * ((-len(data)) % ss)

        def chk(start=start, end=end, name=name, padded=padded, pr=pr):
            compare_bytes(img, start, padded, name, 0, os.path.basename(pr["path"]))
            if before is not None:
                compare_unchanged(img, before, start + len(padded), end - start - len(padded),
                                  name, len(padded), "rest after the image")
        run(name, rng, "program %s (%d B%s)" % (os.path.basename(pr["path"]), pr["size"],
                                                ", final GPT" if pr.get("file_patches") else ""),
            chk)
    # gaps between regions (e.g. LBA 34-2047)
    covered.sort()
    pos = 0
    gaps = []
    for s, e in covered:
        if s > pos:
            gaps.append((pos, s))
        pos = max(pos, e)
    if pos < disk_sectors * ss:
        gaps.append((pos, disk_sectors * ss))
    for s, e in gaps:
        rng = "%d-%d" % (s // ss, e // ss - 1)
        if before is not None:
            run("(gap)", rng, "untouched", lambda s=s, e=e:
                compare_unchanged(img, before, s, e - s, "(gap)", 0, "untouched"))


if __name__ == "__main__":
    sys.exit(main())
