#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
"""Self-test of the sample-package generators (run by selftest.sh).

  selftest.py WORKDIR [--shared DIR]

Generates small NAND, eMMC and EM12-G packages into WORKDIR and checks them
with code written separately from the generators: md5.txt, the XML shapes
(against the real EM12-G manifest), the MIBIB and GPT bytes against the
tables in docs/formats.md (parsed from the Markdown), the patch files
applied for a few device sizes, the sparse image expansion, the ELF and boot
image headers and the UBI headers. Then it flashes each package into a
simulated storage image and runs check-image.py on the good image and on
corrupted ones (which must fail, naming the partition).
"""

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PY = sys.executable

failures = 0
checks = 0


def ok(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL: %s" % what)
    return cond


def run(args, expect_rc=0):
    r = subprocess.run([PY] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != expect_rc:
        print(r.stdout)
    ok(r.returncode == expect_rc, "%s exit %d (wanted %d)"
       % (" ".join(os.path.basename(x) for x in args[:1]) + " " + " ".join(args[1:4]),
          r.returncode, expect_rc))
    return r.stdout


# ---------------------------------------------------------------------------
# Tables from docs/formats.md (independent of pkglib's copy)
# ---------------------------------------------------------------------------

def doc_tables():
    text = open(os.path.join(REPO, "docs", "formats.md"), encoding="utf-8").read()
    nand, emmc = [], []
    for line in text.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*(0:\S+)\s*\|\s*(\d+)\s*\|\s*(\S+)", line)
        if m:
            blocks = m.group(4)
            nand.append((m.group(2), int(m.group(3)),
                         0xFFFFFFFF if blocks.startswith("0xFFFFFFFF") else int(blocks)))
            continue
        m = re.match(r"\|\s*(\d+)\s*\|\s*([a-z0-9]+)\s*\|\s*(\d+)\s*\|\s*([^|]*)\|", line)
        if m and m.group(2) not in ("name",):
            n = m.group(4).strip()
            emmc.append((m.group(2), int(m.group(3)), int(n) if n.isdigit() else None))
    return nand, emmc


def crc_ubi(data):
    return (~zlib.crc32(data)) & 0xFFFFFFFF


# ---------------------------------------------------------------------------
# Generic package checks
# ---------------------------------------------------------------------------

def check_md5(pkg):
    listed = {}
    for line in open(os.path.join(pkg, "md5.txt")):
        line = line.rstrip("\n")
        m = re.fullmatch(r"([0-9a-f]{32})  (\S+)", line)
        if not ok(m is not None, "md5.txt line format: %r" % line):
            continue
        listed[m.group(2)] = m.group(1)
    present = set()
    for dp, dn, fn in os.walk(pkg):
        for f in fn:
            rel = os.path.relpath(os.path.join(dp, f), pkg).replace(os.sep, "/")
            if rel != "md5.txt":
                present.add(rel)
    ok(set(listed) == present, "%s: md5.txt lists exactly the files" % pkg)
    for rel, md5 in listed.items():
        if rel in present:
            h = hashlib.md5(open(os.path.join(pkg, rel), "rb").read()).hexdigest()
            ok(h == md5, "md5 of %s" % rel)


def check_expected_files(pkg, exp):
    for rel, info in exp["files"].items():
        p = os.path.join(pkg, rel)
        ok(os.path.getsize(p) == info["size"], "size of %s" % rel)
        ok(hashlib.sha256(open(p, "rb").read()).hexdigest() == info["sha256"],
           "sha256 of %s" % rel)
    for pr in exp["programs"]:
        ok(pr["path"] in exp["files"], "program file %s listed" % pr["path"])


def check_elf(path, want_notice=None):
    d = open(path, "rb").read()
    ok(d[:4] == b"\x7fELF" and d[4] == 1 and d[5] == 1, "%s: ELF32 LE ident" % path)
    e_type, e_machine, _v, entry, phoff, _sh, _fl, ehsize, phentsize, phnum = \
        struct.unpack_from("<HHIIIIIHHH", d, 16)
    ok(e_type == 2 and e_machine == 40 and ehsize == 52 and phentsize == 32,
       "%s: ARM executable header" % path)
    loads = 0
    for i in range(phnum):
        pt, off, va, pa, fsz, msz, flg, al = struct.unpack_from("<8I", d, phoff + 32 * i)
        if pt == 1:
            loads += 1
            ok(off + fsz <= len(d) and msz >= fsz and va % al == off % al,
               "%s: PT_LOAD %d sane" % (path, i))
    ok(2 <= loads <= 3, "%s: 2-3 PT_LOAD segments" % path)
    if want_notice:
        ok(want_notice.encode() in d, "%s: notice string" % path)


def check_bootimg(path, page):
    d = open(path, "rb").read()
    ok(d[:8] == b"ANDROID!", "%s: boot image magic" % path)
    ksz, _ka, rsz, _ra, _ss, _sa, _ta, pg = struct.unpack_from("<8I", d, 8)
    ok(pg == page, "%s: page size %d" % (path, pg))
    koff = page
    roff = koff + (ksz + page - 1) // page * page
    ok(struct.unpack_from("<I", d, koff + 0x24)[0] == 0x016F2818, "%s: zImage magic" % path)
    ok(d[roff:roff + 2] == b"\x1f\x8b", "%s: gzip ramdisk" % path)
    ok(len(d) >= roff + rsz, "%s: sizes fit" % path)


def check_ubi(path):
    d = open(path, "rb").read()
    peb = 256 * 1024
    ok(len(d) % peb == 0 and len(d) > 0, "%s: whole PEBs" % path)
    seqs = set()
    ubifs_sb = False
    for i in range(0, len(d), peb):
        ec = d[i:i + 64]
        if not ok(ec[:4] == b"UBI#", "%s: EC header magic at PEB %d" % (path, i // peb)):
            return
        ok(crc_ubi(ec[:60]) == struct.unpack_from(">I", ec, 60)[0],
           "%s: EC header CRC at PEB %d" % (path, i // peb))
        vid_off, data_off, seq = struct.unpack_from(">III", ec, 16)
        seqs.add(seq)
        vid = d[i + vid_off:i + vid_off + 64]
        ok(vid[:4] == b"UBI!", "%s: VID header at PEB %d" % (path, i // peb))
        ok(crc_ubi(vid[:60]) == struct.unpack_from(">I", vid, 60)[0],
           "%s: VID header CRC at PEB %d" % (path, i // peb))
        vol_id, lnum = struct.unpack_from(">II", vid, 8)
        if vol_id < 0x7FFFEFFF and lnum == 0:
            node = d[i + data_off:i + data_off + 4096]
            if node[:4] == struct.pack("<I", 0x06101831):
                ln = struct.unpack_from("<I", node, 16)[0]
                ok(node[20] == 6 and crc_ubi(node[8:ln]) == struct.unpack_from("<I", node, 4)[0],
                   "%s: UBIFS superblock CRC (after pinning)" % path)
                ubifs_sb = True
    ok(len(seqs) == 1, "%s: one image_seq" % path)
    return ubifs_sb


# ---------------------------------------------------------------------------
# NAND
# ---------------------------------------------------------------------------

def check_mibib(data, table, patched_blocks=None):
    P = 4096
    ok(len(data) % P == 0 and len(data) >= 4 * P, "MIBIB: whole pages")
    ok(struct.unpack_from("<4I", data, 0) == (0xFE569FAC, 0xCD7F127A, 4, 1), "MIBIB header")
    m1, m2, ver, n = struct.unpack_from("<4I", data, P)
    ok((m1, m2, ver, n) == (0x55EE73AA, 0xE35EBDDB, 4, len(table)), "MIBIB sys table header")
    m1, m2, ver, n2 = struct.unpack_from("<4I", data, 2 * P)
    ok((m1, m2, ver, n2) == (0xAA7D1B9A, 0x1F7D48BC, 1, len(table)), "MIBIB user table header")
    for i, (name, first, blocks) in enumerate(table):
        e = data[P + 16 + 28 * i:P + 16 + 28 * (i + 1)]
        nm = e[:16].rstrip(b"\0").decode()
        off, ln = struct.unpack_from("<II", e, 16)
        want_len = blocks
        if blocks == 0xFFFFFFFF and patched_blocks is not None:
            want_len = patched_blocks - first
        ok(nm == name and off == first and ln == want_len,
           "MIBIB entry %d: %s %d %d (got %s %d %d)" % (i, name, first, want_len, nm, off, ln))
        u = data[2 * P + 16 + 28 * i:2 * P + 16 + 28 * (i + 1)]
        ok(u[:16].rstrip(b"\0").decode() == name[2:] and
           struct.unpack_from("<II", u, 16) == (first, blocks),
           "MIBIB user entry %d" % i)
    ok(struct.unpack_from("<3I", data, 3 * P) == (0xFE569FAC, 0xCD7F127A, 4), "MIBIB check page")
    crc = struct.unpack_from("<I", data, 3 * P + 12)[0]
    if patched_blocks is None:
        ok(crc == 0, "MIBIB package CRC is 0")
    else:
        ok(crc == zlib.crc32(data[:2 * P]) & 0xFFFFFFFF, "MIBIB CRC of pages 0-1")
    ok(data[3 * P + 16:] == b"\xff" * (len(data) - 3 * P - 16), "MIBIB: rest erased")


def apply_nand_patches_by_hand(data, patches, blocks):
    """Independent evaluation of the two EM12-G-shaped patches."""
    buf = bytearray(data)
    for p in patches:
        ss = int(p.get("SECTOR_SIZE_IN_BYTES"))
        off = int(p.get("start_sector")) * ss + int(p.get("byte_offset"))
        v = p.get("value")
        m = re.fullmatch(r"NUM_DISK_BLOCKS-(\d+)\.", v)
        if m:
            val = blocks - int(m.group(1))
        else:
            m = re.fullmatch(r"CRC32\((\d+),(\d+)\)", v)
            assert m, v
            s = int(m.group(1)) * ss
            val = zlib.crc32(bytes(buf[s:s + int(m.group(2))])) & 0xFFFFFFFF
        buf[off:off + int(p.get("size_in_bytes"))] = val.to_bytes(4, "little")
    return bytes(buf)


def xml_shape(path):
    root = ET.parse(path).getroot()
    return [(e.tag, e.get("label"), list(e.attrib)) for e in root if isinstance(e.tag, str)]


def check_nand_pkg(pkg, nand_table, real_dir):
    exp = json.load(open(os.path.join(pkg, "expected.json")))
    check_md5(pkg)
    check_expected_files(pkg, exp)
    fh = os.path.join(pkg, "update", "firehose")
    ours = xml_shape(os.path.join(fh, "rawprogram_nand_p4K_b256K_update.xml"))
    real = xml_shape(os.path.join(real_dir, "rawprogram_nand_p4K_b256K_update.xml"))
    ok([(t, l, a) for t, l, a in ours] == [(t, l, a) for t, l, a in real],
       "NAND update manifest has the EM12-G element/label/attribute order")
    fac = xml_shape(os.path.join(fh, "rawprogram_nand_p4K_b256K_factory.xml"))
    ok([x for x in fac if x[1] != "EFS2"] == ours and
       [x[0] for x in fac if x[1] == "EFS2"] == ["erase"],
       "factory manifest = update + erase EFS2")
    root = ET.parse(os.path.join(fh, "rawprogram_nand_p4K_b256K_update.xml")).getroot()
    for e in root:
        if e.get("filename"):
            rel = e.get("filename").replace("\\", "/")
            ok(os.path.isfile(os.path.normpath(os.path.join(fh, rel))),
               "referenced file %s exists" % rel)
    ours_p = [(p.tag, sorted(p.attrib.items())) for p in
              ET.parse(os.path.join(fh, "patch_p4K_b256K.xml")).getroot()]
    real_p = [(p.tag, sorted((k, v) for k, v in p.attrib.items() if k != "what")) for p in
              ET.parse(os.path.join(real_dir, "patch_p4K_b256K.xml")).getroot()]
    ok([(t, [kv for kv in a if kv[0] != "what"]) for t, a in ours_p] == real_p,
       "NAND patch file matches the real one (but the 'what' text)")
    mib = open(os.path.join(fh, "partition_complete_p4K_b256K.mbn"), "rb").read()
    check_mibib(mib, nand_table)
    patches = [p.attrib for p in ET.parse(os.path.join(fh, "patch_p4K_b256K.xml")).getroot()]
    for blocks in (2048, 4096, 1990):
        check_mibib(apply_nand_patches_by_hand(mib, patches, blocks), nand_table, blocks)
    check_elf(os.path.join(fh, os.path.basename(exp["programmer"]["path"])),
              "modemfw test programmer \u2014 not a real Firehose programmer")
    for f in ("sbl1.mbn", "tz.mbn", "rpm.mbn", "appsboot.mbn"):
        check_elf(os.path.join(pkg, "update", f))
    for f in os.listdir(os.path.join(pkg, "update")):
        if f.endswith("boot.img"):
            check_bootimg(os.path.join(pkg, "update", f), 4096)
        if f.endswith(".ubi"):
            check_ubi(os.path.join(pkg, "update", f))
    # every program fits its partition
    for pr in exp["programs"]:
        part = next(p for p in exp["partitions"] if p["name"] == pr["label"])
        ok(pr["size"] <= part["num_sectors"] * 4096, "%s fits %s" % (pr["path"], pr["label"]))
    return exp


def simulate_nand_flash(pkg, exp, image, blocks=2048, factory=False, bad=()):
    """Flash like QFirehose/fwupd: all erases, then programs (SBL last), with
    the file patches applied to the MIBIB image before it is written. Bad
    blocks are skipped (never erased; data goes on in the next good block)."""
    P = 4096
    B = P * 64
    with open(image, "r+b") as f:
        erases = list(exp["erases"]) + (exp["factory_extra_erases"] if factory else [])
        for e in erases:
            first = e["start_sector"] // 64
            n = e["num_sectors"] // 64
            if e["label"] == "usrfs":
                n = blocks - 1904
            for b in range(first, first + n):
                if b not in bad:
                    f.seek(b * B)
                    f.write(b"\xff" * B)
        progs = sorted(exp["programs"], key=lambda x: x["start_sector"] == 0)
        for pr in progs:
            data = open(os.path.join(pkg, pr["path"]), "rb").read()
            if pr["file_patches"]:
                data = apply_nand_patches_by_hand(data, [p for p in exp["patches"]], blocks)
            data += b"\xff" * ((-len(data)) % P)
            b = pr["start_sector"] // 64
            while data:
                if b not in bad:
                    f.seek(b * B)
                    f.write(data[:B])
                    data = data[B:]
                b += 1


def nand_flash_tests(pkg, exp, work, name, full=True):
    """Simulated flashes into a 512 MiB NAND image, then check-image.py on
    the result and on corrupted copies. The image is modified in place and
    restored to keep disk writes low (2 cores, shared machine)."""
    blocks = 2048
    before = os.path.join(work, name + "-before.img")
    img = os.path.join(work, name + ".img")
    # a "used" device: non-erased content everywhere, EFS2 included
    pat = hashlib.shake_256(b"used device").digest(256 * 1024)
    with open(before, "wb") as f:
        for i in range(blocks):
            f.write(struct.pack("<I", i) + pat[4:])
    shutil.copyfile(before, img)
    simulate_nand_flash(pkg, exp, img, blocks)
    ci = os.path.join(HERE, "check-image.py")
    expj = os.path.join(pkg, "expected.json")

    def check(rc, *extra, image=img):
        return run([ci, "--expected", expj, "--image", image, "--storage", "nand",
                    "--before", before] + list(extra), expect_rc=rc)

    def flip(off, x):
        with open(img, "r+b") as f:
            f.seek(off)
            b = f.read(1)[0]
            f.seek(off)
            f.write(bytes([b ^ x]))

    out = check(0)
    ok("check-image: OK" in out, "%s: check-image OK after simulated flash" % name)
    sysp = next(p for p in exp["partitions"] if p["name"] == "system")
    efs = next(p for p in exp["partitions"] if p["name"] == "EFS2")
    tz = next(p for p in exp["partitions"] if p["name"] == "TZ")
    # touch EFS2
    flip(efs["start_sector"] * 4096 + 7, 0xFF)
    out = check(1)
    ok("partition EFS2" in out and "byte offset 7 " in out, "%s: EFS2 change detected" % name)
    flip(efs["start_sector"] * 4096 + 7, 0xFF)
    if full:
        # corrupt a byte in system
        off = sysp["start_sector"] * 4096 + 12345
        flip(off, 1)
        out = check(1)
        ok("partition system" in out and "byte offset 12345" in out,
           "%s: corruption in system reported with its offset" % name)
        flip(off, 1)
        # the erased rest of a partition must be 0xFF
        flip(tz["last_sector"] * 4096, 0x10)
        out = check(1)
        ok("partition TZ" in out and "erased rest" in out, "%s: unerased tail detected" % name)
        flip(tz["last_sector"] * 4096, 0x10)
        out = check(0, "--quiet")
        ok("check-image: OK" in out, "%s: restored image checks again" % name)
    if full and exp.get("factory_extra_erases"):
        shutil.copyfile(before, img)
        simulate_nand_flash(pkg, exp, img, blocks, factory=True)
        out = check(0, "--factory")
        ok("check-image: OK" in out, "%s: factory flash checks with --factory" % name)
        out = check(1)
        ok("partition EFS2" in out, "%s: factory flash fails the update check on EFS2" % name)
    if full:
        # bad blocks (factory-marked, all 0x00, listed in IMAGE.badblocks): in
        # system's first block, in EFS2 and in the MIBIB
        badset = {sysp["start_sector"] // 64, efs["start_sector"] // 64 + 3, 10}
        with open(before, "r+b") as f:
            for b in badset:
                f.seek(b * 256 * 1024)
                f.write(bytes(256 * 1024))
        shutil.copyfile(before, img)
        with open(img + ".badblocks", "w") as f:
            f.write("# bad blocks\n" + "".join("%d\n" % b for b in sorted(badset)))
        simulate_nand_flash(pkg, exp, img, blocks, bad=badset)
        out = check(0)
        ok("check-image: OK" in out and "bad block skipped" in out,
           "%s: flash with bad blocks checks (sidecar read)" % name)
        check(1, "--bad-blocks", "7")
        os.unlink(img + ".badblocks")
    for p in (img, before):
        os.unlink(p)


# ---------------------------------------------------------------------------
# eMMC
# ---------------------------------------------------------------------------

class SparseDisk:
    """Only the two GPT regions of a disk of n sectors."""

    def __init__(self, n, pri, bak):
        self.n = n
        self.pri = bytearray(pri)
        self.bak = bytearray(bak)

    def _loc(self, off, ln):
        if off + ln <= len(self.pri):
            return self.pri, off
        b0 = (self.n - 33) * 512
        if off >= b0 and off + ln <= self.n * 512:
            return self.bak, off - b0
        raise ValueError("patch outside the GPT regions: %d" % off)

    def get(self, off, ln):
        buf, o = self._loc(off, ln)
        return bytes(buf[o:o + ln])

    def put(self, off, b):
        buf, o = self._loc(off, len(b))
        buf[o:o + len(b)] = b


def expr(v, n):
    m = re.fullmatch(r"NUM_DISK_SECTORS-(\d+)\.", v)
    if m:
        return n - int(m.group(1))
    return int(v)


def apply_gpt_patches(target, patches, n, name):
    """Apply patches for filename `name` to target (a SparseDisk or a
    bytearray of a file), in document order."""
    for p in patches:
        if p["filename"] != name:
            continue
        ss = int(p["SECTOR_SIZE_IN_BYTES"])
        off = expr(p["start_sector"], n) * ss + int(p["byte_offset"])
        size = int(p["size_in_bytes"])
        m = re.fullmatch(r"CRC32\(([^,]+),(\d+)\)", p["value"])
        if m:
            s = expr(m.group(1), n) * ss
            ln = int(m.group(2))
            src = target.get(s, ln) if isinstance(target, SparseDisk) else bytes(target[s:s + ln])
            val = zlib.crc32(src) & 0xFFFFFFFF
        else:
            val = expr(p["value"], n)
        b = val.to_bytes(size, "little")
        if isinstance(target, SparseDisk):
            target.put(off, b)
        else:
            target[off:off + size] = b


def verify_gpt(hdr_sec, ents, n, primary, table):
    h = bytearray(hdr_sec[:92])
    ok(h[:8] == b"EFI PART", "GPT signature")
    crc = struct.unpack_from("<I", h, 16)[0]
    h[16:20] = b"\0\0\0\0"
    ok(crc == zlib.crc32(bytes(h)) & 0xFFFFFFFF, "GPT header CRC (%s, n=%d)"
       % ("primary" if primary else "backup", n))
    my, alt, fu, lu = struct.unpack_from("<QQQQ", h, 24)
    elba, nent, esz, ecrc = struct.unpack_from("<QIII", h, 72)
    if primary:
        ok((my, alt, elba) == (1, n - 1, 2), "primary LBAs")
    else:
        ok((my, alt, elba) == (n - 1, 1, n - 33), "backup LBAs")
    ok((fu, lu, nent, esz) == (34, n - 34, 128, 128), "usable range and entry geometry")
    ok(ecrc == zlib.crc32(ents) & 0xFFFFFFFF, "entry array CRC")
    for i, (name, first, cnt) in enumerate(table):
        e = ents[i * 128:(i + 1) * 128]
        s, l_ = struct.unpack_from("<QQ", e, 32)
        nm = e[56:128].decode("utf-16-le").rstrip("\0")
        last = n - 34 if cnt is None else first + cnt - 1
        ok((nm, s, l_) == (name, first, last), "GPT entry %d %s" % (i, name))
        ok(e[:16] == bytes.fromhex("A2A0D0EBE5B9334487C068B6B72699C7"), "basic data type GUID")
    ok(ents[len(table) * 128:] == b"\0" * (16384 - len(table) * 128), "unused entries zero")


def check_emmc_pkg(pkg, emmc_table, work):
    exp = json.load(open(os.path.join(pkg, "expected.json")))
    check_md5(pkg)
    check_expected_files(pkg, exp)
    fh = os.path.join(pkg, "update", "firehose")
    root = ET.parse(os.path.join(fh, "rawprogram0.xml")).getroot()
    els = [e.attrib for e in root if e.tag == "program"]
    ok(els[-2]["filename"] == "gpt_main0.bin" and els[-2]["start_sector"] == "0"
       and els[-2]["num_partition_sectors"] == "34", "PrimaryGPT element")
    ok(els[-1]["filename"] == "gpt_backup0.bin" and
       els[-1]["start_sector"] == "NUM_DISK_SECTORS-33.", "BackupGPT element")
    empty = {e["label"] for e in els if e["filename"] == ""}
    ok({"modemst1", "modemst2", "fsg", "fsc", "persist"} <= empty, "protected entries skipped")
    ok([e["label"] for e in els if e.get("sparse") == "true"] == ["system"], "system sparse")
    for e in els:
        if e["filename"]:
            ok(os.path.isfile(os.path.join(fh, e["filename"])), "file %s" % e["filename"])
    patches = [p.attrib for p in ET.parse(os.path.join(fh, "patch0.xml")).getroot()
               if p.tag == "patch"]
    ok(sum(p["filename"] == "DISK" for p in patches) ==
       sum(p["filename"] != "DISK" for p in patches), "patches come in pairs")
    pri0 = open(os.path.join(fh, "gpt_main0.bin"), "rb").read()
    bak0 = open(os.path.join(fh, "gpt_backup0.bin"), "rb").read()
    ok(len(pri0) == 34 * 512 and len(bak0) == 33 * 512, "GPT file sizes")
    ok(pri0[510:512] == b"\x55\xaa" and pri0[450] == 0xEE, "protective MBR")
    sys.path.insert(0, HERE)
    import expected_gpt
    for n in (8388608, 7634944, 4000000):
        disk = SparseDisk(n, pri0, bak0)
        apply_gpt_patches(disk, patches, n, "DISK")
        verify_gpt(disk.pri[512:1024], bytes(disk.pri[1024:]), n, True, emmc_table)
        verify_gpt(disk.bak[32 * 512:], bytes(disk.bak[:32 * 512]), n, False, emmc_table)
        fp = bytearray(pri0)
        apply_gpt_patches(fp, patches, n, "gpt_main0.bin")
        fb = bytearray(bak0)
        apply_gpt_patches(fb, patches, n, "gpt_backup0.bin")
        ok(bytes(fp) == bytes(disk.pri) and bytes(fb) == bytes(disk.bak),
           "file patches and DISK patches agree (n=%d)" % n)
        ok(expected_gpt.final(n) == (bytes(disk.pri), bytes(disk.bak)),
           "expected_gpt.py agrees with patch0.xml (n=%d)" % n)
    # sparse image: independent expansion
    sp = open(os.path.join(fh, "system.img"), "rb").read()
    magic, maj, mino, fhs, chs, blk, total, nch, _ = struct.unpack_from("<IHHHHIIII", sp, 0)
    ok((magic, maj, mino, fhs, chs, blk) == (0xED26FF3A, 1, 0, 28, 12, 4096), "sparse header")
    pos, outb, types = 28, bytearray(), set()
    for _ in range(nch):
        t, _r, nb, tot = struct.unpack_from("<HHII", sp, pos)
        types.add(t)
        if t == 0xCAC1:
            outb += sp[pos + 12:pos + tot]
        elif t == 0xCAC2:
            outb += sp[pos + 12:pos + 16] * (nb * blk // 4)
        elif t == 0xCAC3:
            outb += bytes(nb * blk)
        pos += tot
    ok(pos == len(sp), "sparse chunks cover the file")
    ok(types == {0xCAC1, 0xCAC2, 0xCAC3}, "sparse has RAW, FILL and DONT_CARE chunks")
    prs = next(p for p in exp["programs"] if p["label"] == "system")
    ok(len(outb) == total * blk == prs["expanded_size"], "sparse expanded size")
    ok(hashlib.sha256(outb).hexdigest() == prs["expanded_sha256"], "sparse expanded sha256")
    check_elf(os.path.join(fh, "prog_emmc_firehose_8953_ddr.mbn"),
              "modemfw test programmer \u2014 not a real Firehose programmer")
    check_bootimg(os.path.join(fh, "boot.img"), 2048)
    # simulated flash into a sparse 4 GiB image
    n = 8388608
    before = os.path.join(work, "emmc-before.img")
    img = os.path.join(work, "emmc.img")
    for path in (before, img):
        with open(path, "wb") as f:
            f.truncate(n * 512)
            for lba in (0, 40, 77824, 92160 + 5, 419840 + 100, 2516992 + 9, n - 40, n - 1):
                f.seek(lba * 512)
                f.write(hashlib.sha256(b"old%d" % lba).digest() * 16)
    with open(img, "r+b") as f:
        for e in els:
            if not e["filename"]:
                continue
            start = expr(e["start_sector"], n) * 512
            data = open(os.path.join(fh, e["filename"]), "rb").read()
            if e.get("sparse") == "true":
                pos = 28
                out = 0
                for _ in range(nch):
                    t, _r, nb, tot = struct.unpack_from("<HHII", sp, pos)
                    if t == 0xCAC1:
                        f.seek(start + out)
                        f.write(sp[pos + 12:pos + tot])
                    elif t == 0xCAC2:
                        f.seek(start + out)
                        f.write(sp[pos + 12:pos + 16] * (nb * blk // 4))
                    out += nb * blk
                    pos += tot
            else:
                f.seek(start)
                f.write(data)

        class FileDisk:
            def get(self, off, ln):
                f.seek(off)
                return f.read(ln)

            def put(self, off, b):
                f.seek(off)
                f.write(b)
        fd = FileDisk()
        for p in patches:
            if p["filename"] == "DISK":
                apply_gpt_patches(SparseDiskProxy(fd), [p], n, "DISK")
    ci = os.path.join(HERE, "check-image.py")
    expj = os.path.join(pkg, "expected.json")
    out = run([ci, "--expected", expj, "--image", img, "--storage", "emmc", "--before", before])
    ok("check-image: OK" in out, "eMMC: check-image OK after simulated flash")
    with open(img, "r+b") as f:
        f.seek(92160 * 512 + 5 * 512 + 3)
        f.write(b"X")
    out = run([ci, "--expected", expj, "--image", img, "--storage", "emmc", "--before", before],
              expect_rc=1)
    ok("partition persist" in out and "byte offset 2563 " in out, "eMMC: persist change detected")
    with open(img, "r+b") as f:
        f.seek(92160 * 512 + 5 * 512 + 3)
        f.write(hashlib.sha256(b"old%d" % (92160 + 5)).digest()[3:4])
        f.seek((n - 1) * 512 + 16)
        f.write(b"\0\0\0\0")
    out = run([ci, "--expected", expj, "--image", img, "--storage", "emmc", "--before", before],
              expect_rc=1)
    ok("partition BackupGPT" in out, "eMMC: broken backup GPT CRC detected")
    for p in (img, before):
        os.unlink(p)


class SparseDiskProxy(SparseDisk):
    def __init__(self, fd):  # noqa: D401 - wraps FileDisk in the SparseDisk interface
        self.fd = fd

    def get(self, off, ln):
        return self.fd.get(off, ln)

    def put(self, off, b):
        self.fd.put(off, b)


# ---------------------------------------------------------------------------

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    work = os.path.abspath(sys.argv[1])
    shared = None
    if "--shared" in sys.argv:
        shared = sys.argv[sys.argv.index("--shared") + 1]
    os.makedirs(work, exist_ok=True)
    nand_table, emmc_table = doc_tables()
    ok(len(nand_table) == 20 and len(emmc_table) == 13,
       "docs/formats.md tables parsed (%d NAND, %d eMMC rows)" % (len(nand_table), len(emmc_table)))
    gp = os.path.join(HERE, "gen-package.py")
    nand = os.path.join(work, "nand")
    run([gp, "--storage", "nand", "--profile", "small", "--seed", "7", "--out", nand,
         "--zip", os.path.join(work, "nand.zip")])
    run([gp, "--storage", "nand", "--profile", "small", "--seed", "7", "--out", nand + "2"])
    ok(open(os.path.join(nand, "md5.txt")).read() == open(os.path.join(nand + "2", "md5.txt")).read(),
       "NAND package is reproducible for a seed (same host)")
    run([gp, "--storage", "nand", "--profile", "small", "--seed", "8", "--out", nand + "2"])
    ok(open(os.path.join(nand, "md5.txt")).read() != open(os.path.join(nand + "2", "md5.txt")).read(),
       "another seed gives another package")
    import zipfile
    with zipfile.ZipFile(os.path.join(work, "nand.zip")) as z:
        ok("update/firehose/rawprogram_nand_p4K_b256K_update.xml" in z.namelist()
           and z.testzip() is None, "zip holds the package")
    emmc = os.path.join(work, "emmc")
    run([gp, "--storage", "emmc", "--profile", "small", "--seed", "7", "--out", emmc])
    em12 = os.path.join(work, "em12g")
    args = [os.path.join(HERE, "em12g-package.py"), "--out", em12]
    if shared:
        args += ["--shared", shared]
    run(args)

    real_dir = None
    for c in ([shared] if shared else []) + [os.path.join(os.environ.get("SRCDIR", REPO), "..",
                                                           "shared"),
                                               os.path.join(REPO, "..", "shared")]:
        d = os.path.join(c, "data", "real", "quectel-em12g")
        if os.path.isdir(d):
            real_dir = d
            break
    ok(real_dir is not None, "real EM12-G manifests found")

    exp = check_nand_pkg(nand, nand_table, real_dir)
    nand_flash_tests(nand, exp, work, "nand")
    check_emmc_pkg(emmc, emmc_table, work)
    exp12 = json.load(open(os.path.join(em12, "expected.json")))
    check_md5(em12)
    check_expected_files(em12, exp12)
    fh12 = os.path.join(em12, "update", "firehose")
    for nm in ("rawprogram_nand_p4K_b256K_update.xml", "patch_p4K_b256K.xml"):
        ok(open(os.path.join(fh12, nm), "rb").read() ==
           open(os.path.join(real_dir, nm), "rb").read(), "EM12-G %s copied unchanged" % nm)
    for e in ET.parse(os.path.join(fh12, "rawprogram_nand_p4K_b256K_update.xml")).getroot():
        if e.get("filename"):
            p = os.path.normpath(os.path.join(fh12, e.get("filename").replace("\\", "/")))
            ok(os.path.isfile(p), "EM12-G file %s generated" % e.get("filename"))
            if p.endswith(".ubi"):
                check_ubi(p)
            ok(os.path.getsize(p) <= int(e.get("num_partition_sectors")) * 4096,
               "EM12-G %s fits" % e.get("filename"))
    check_mibib(open(os.path.join(fh12, "partition_complete_p4K_b256K.mbn"), "rb").read(),
                nand_table)
    check_elf(os.path.join(fh12, "prog_nand_firehose_sdx20.mbn"))
    nand_flash_tests(em12, exp12, work, "em12g", full=False)

    print("%d checks, %d failed" % (checks, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
