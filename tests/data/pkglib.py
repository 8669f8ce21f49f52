# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
"""Shared helpers of the sample-package generators in tests/data/.

This is an implementation of the package formats that is independent of the
C code in lib/ and emu/ on purpose (see docs/formats.md): a bug shared by the
builder and the parser cannot hide. Python 3 standard library only.

Everything here is deterministic given a seed, except the bytes that
mkfs.ubifs writes on its own (see UbiBuilder for what we pin afterwards).
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

# ---------------------------------------------------------------------------
# Canonical layouts (docs/formats.md)
# ---------------------------------------------------------------------------

NAND_PAGE = 4096
NAND_PAGES_PER_BLOCK = 64
NAND_BLOCK = NAND_PAGE * NAND_PAGES_PER_BLOCK      # 256 KiB
NAND_BLOCKS = 2048                                  # 512 MiB device
NAND_SECTORS = NAND_BLOCKS * NAND_PAGES_PER_BLOCK   # 131072
NAND_TO_END = 0xFFFFFFFF

# (name in the MIBIB with "0:" prefix, first block, blocks or NAND_TO_END)
NAND_TABLE = [
    ("0:SBL", 0, 10),
    ("0:MIBIB", 10, 10),
    ("0:EFS2", 20, 88),
    ("0:SYS_REV", 108, 8),
    ("0:RAWDATA", 116, 8),
    ("0:SEC", 124, 8),
    ("0:TZ", 132, 12),
    ("0:RPM", 144, 12),
    ("0:aboot", 156, 12),
    ("0:boot", 168, 53),
    ("0:scrub", 221, 60),
    ("0:image_back", 281, 60),
    ("0:modem", 341, 288),
    ("0:misc", 629, 12),
    ("0:recovery", 641, 53),
    ("0:sys_back", 694, 9),
    ("0:recoveryfs", 703, 120),
    ("0:system", 823, 321),
    ("0:cache", 1144, 760),
    ("0:usrfs", 1904, NAND_TO_END),
]
NAND_PROTECTED = {"EFS2"}

# MIBIB magics (docs/formats.md "NAND MIBIB")
MIBIB_MAGIC1 = 0xFE569FAC
MIBIB_MAGIC2 = 0xCD7F127A
MIBIB_VERSION = 4
MIBIB_AGE = 1
SYSPT_MAGIC1 = 0x55EE73AA
SYSPT_MAGIC2 = 0xE35EBDDB
SYSPT_VERSION = 4
USRPT_MAGIC1 = 0xAA7D1B9A
USRPT_MAGIC2 = 0x1F7D48BC
USRPT_VERSION = 1
MIBIB_ENTRY = 28
MIBIB_FILE_PAGES = 8        # package image: pages 0-3 + 4 erased pages


def nand_partitions(num_blocks=NAND_BLOCKS):
    """Canonical NAND partitions as dicts (label without "0:")."""
    out = []
    for name, first, blocks in NAND_TABLE:
        if blocks == NAND_TO_END:
            blocks = num_blocks - first
        label = name[2:]
        out.append({
            "name": label,
            "first_block": first,
            "blocks": blocks,
            "start_sector": first * NAND_PAGES_PER_BLOCK,
            "num_sectors": blocks * NAND_PAGES_PER_BLOCK,
            "last_sector": (first + blocks) * NAND_PAGES_PER_BLOCK - 1,
            "protected": label in NAND_PROTECTED,
        })
    return out


def nand_part(label, num_blocks=NAND_BLOCKS):
    for p in nand_partitions(num_blocks):
        if p["name"].lower() == label.lower():
            return p
    raise KeyError(label)


EMMC_SECTOR = 512
EMMC_DEFAULT_SECTORS = 8388608          # 4 GiB
EMMC_TO_END = 0
# (name, first LBA, sectors or EMMC_TO_END)
EMMC_TABLE = [
    ("sbl1", 2048, 2048),
    ("rpm", 4096, 1024),
    ("tz", 6144, 4096),
    ("aboot", 10240, 2048),
    ("boot", 12288, 65536),
    ("modemst1", 77824, 4096),
    ("modemst2", 81920, 4096),
    ("fsg", 86016, 4096),
    ("fsc", 90112, 256),
    ("persist", 92160, 65536),
    ("modem", 157696, 262144),
    ("system", 419840, 2097152),
    ("userdata", 2516992, EMMC_TO_END),
]
EMMC_PROTECTED = {"modemst1", "modemst2", "fsg", "fsc", "persist"}
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
GPT_ARRAY_SECTORS = GPT_ENTRIES * GPT_ENTRY_SIZE // EMMC_SECTOR   # 32
GPT_TYPE_BASIC_DATA = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"


def emmc_partitions(disk_sectors=EMMC_DEFAULT_SECTORS):
    out = []
    last_usable = disk_sectors - 34
    for i, (name, first, n) in enumerate(EMMC_TABLE):
        if n == EMMC_TO_END:
            n = last_usable - first + 1
        out.append({
            "index": i + 1,
            "name": name,
            "start_sector": first,
            "num_sectors": n,
            "last_sector": first + n - 1,
            "protected": name in EMMC_PROTECTED,
        })
    return out


# ---------------------------------------------------------------------------
# Deterministic bytes
# ---------------------------------------------------------------------------

def prand(seed, name, n):
    """n pseudo-random bytes, a pure function of (seed, name).

    SHAKE-256 is specified by FIPS 202, so the bytes do not depend on the
    Python version (unlike random.Random.randbytes)."""
    if n <= 0:
        return b""
    return hashlib.shake_256(("modemfw:%d:%s" % (seed, name)).encode()).digest(n)


def pseudo_binary(seed, name, n):
    """Deterministic bytes that look like code: random runs mixed with zero
    runs and repeated words, so compressors find some structure."""
    out = bytearray()
    r = prand(seed, name + "/shape", 4096)
    i = 0
    chunk = 0
    while len(out) < n:
        kind = r[i % len(r)] % 4
        ln = 256 + (r[(i + 1) % len(r)] << 4)
        i += 2
        if kind == 0:
            out += b"\0" * ln
        elif kind == 1:
            out += struct.pack("<I", 0xE1A00000 + chunk) * (ln // 4)
        else:
            out += prand(seed, "%s/%d" % (name, chunk), ln)
        chunk += 1
    return bytes(out[:n])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def crc32(data):
    """Standard CRC-32 (IEEE 802.3, as in zlib / GPT / the MIBIB check page)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def write_file(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------
# Fake ELF32 ARM executables (programmers and boot images)
# ---------------------------------------------------------------------------

PROGRAMMER_NOTICE = "modemfw test programmer \u2014 not a real Firehose programmer"


def fake_elf32_arm(seed, name, size, notice=PROGRAMMER_NOTICE, base=0x08000000):
    """A valid little-endian ELF32 ARM executable with three PT_LOAD segments
    of deterministic bytes (text, rodata with `notice`, data+bss) and no
    section headers. Total file size is about `size` (at least 16 KiB)."""
    size = max(size, 16384)
    align = 0x1000
    ehsize, phentsize, phnum = 52, 32, 3
    text_off = align
    body = size - text_off
    text_sz = (body * 6 // 10) & ~3
    ro_sz = (body * 3 // 10) & ~3
    data_sz = body - text_sz - ro_sz
    text = bytearray(pseudo_binary(seed, name + "/text", text_sz))
    ro = bytearray(prand(seed, name + "/rodata", ro_sz))
    msg = (notice + "\0" + "name=%s seed=%d\0" % (name, seed)).encode()
    ro[0:len(msg)] = msg
    data = prand(seed, name + "/data", data_sz)
    segs = []
    off = text_off
    vbase = base
    for blob, flags, extra in ((bytes(text), 5, 0), (bytes(ro), 4, 0),
                               (data, 6, 0x8000)):
        vaddr = vbase + (off % align)   # p_vaddr == p_offset modulo p_align
        segs.append((off, vaddr, blob, flags, extra))
        off += len(blob)
        vbase = (vaddr + len(blob) + extra + align - 1) & ~(align - 1)
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + b"\0" * 8
    hdr = ident + struct.pack("<HHIIIIIHHHHHH",
                              2,            # ET_EXEC
                              40,           # EM_ARM
                              1,            # EV_CURRENT
                              base,         # e_entry
                              ehsize,       # e_phoff
                              0,            # e_shoff
                              0x05000200,   # EABI5, soft-float
                              ehsize, phentsize, phnum,
                              40, 0, 0)
    ph = b""
    for off_, vaddr_, blob, flags, extra in segs:
        ph += struct.pack("<IIIIIIII", 1, off_, vaddr_, vaddr_, len(blob),
                          len(blob) + extra, flags, align)
    head = hdr + ph
    out = bytearray(head + b"\0" * (text_off - len(head)))
    for _off, _v, blob, _f, _e in segs:
        out += blob
    return bytes(out)


# ---------------------------------------------------------------------------
# Android boot image (v0 header) with a fake zImage and a gzip'd cpio ramdisk
# ---------------------------------------------------------------------------

def _cpio_newc(entries):
    """entries: list of (path, mode, data). Returns an uncompressed newc cpio."""
    out = bytearray()
    ino = 1
    for path, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        name = path.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            ino if path != "TRAILER!!!" else 0, mode, 0, 0,
            2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0, 0, 0,
            len(name), 0))
        out += hdr.encode() + name
        out += b"\0" * ((-len(out)) % 4)
        out += data
        out += b"\0" * ((-len(out)) % 4)
        ino += 1
    return bytes(out)


def fake_zimage(seed, name, size):
    """ARM zImage look-alike: 8 NOPs, a branch, magic 0x016F2818 at 0x24."""
    head = struct.pack("<8I", *([0xE1A00000] * 8))
    head += struct.pack("<I", 0xEA000003)         # b +0x14
    head += struct.pack("<III", 0x016F2818, 0, max(size, 64))
    body = pseudo_binary(seed, name + "/zimage", max(size, 64) - len(head))
    return head + body


def android_boot_img(seed, name, kernel_size, page=4096,
                     cmdline="console=ttyHSL0,115200 androidboot.hardware=qcom"):
    kernel = fake_zimage(seed, name, kernel_size)
    files = [
        ("dev", 0o40755, b""),
        ("proc", 0o40755, b""),
        ("sys", 0o40755, b""),
        ("init", 0o100755, b"#!/bin/sh\n# modemfw test ramdisk (" + name.encode()
         + b")\nmount -t proc proc /proc\nexec /sbin/init\n"),
        ("etc", 0o40755, b""),
        ("etc/fstab", 0o100644,
         b"ubi0:rootfs / ubifs defaults 0 0\nubi1:modem /firmware ubifs ro 0 0\n"),
    ]
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(_cpio_newc(files))
    ramdisk = buf.getvalue()

    def pad(b):
        return b + b"\0" * ((-len(b)) % page)

    sha = hashlib.sha1()
    for blob in (kernel, ramdisk, b""):
        sha.update(blob)
        sha.update(struct.pack("<I", len(blob)))
    hdr = b"ANDROID!" + struct.pack("<10I",
                                    len(kernel), 0x80008000,
                                    len(ramdisk), 0x82000000,
                                    0, 0x81F00000,
                                    0x80000100, page,
                                    0, 0)
    hdr += name.encode()[:15].ljust(16, b"\0")
    hdr += cmdline.encode()[:511].ljust(512, b"\0")
    hdr += sha.digest().ljust(32, b"\0")
    hdr += b"\0" * 1024
    return pad(hdr) + pad(kernel) + pad(ramdisk)


# ---------------------------------------------------------------------------
# NAND MIBIB
# ---------------------------------------------------------------------------

def _mibib_entries(prefix, num_blocks_for_last):
    out = b""
    for name, first, blocks in NAND_TABLE:
        if blocks == NAND_TO_END and num_blocks_for_last is not None:
            blocks = num_blocks_for_last - first
        nm = name if prefix else name[2:]
        out += nm.encode().ljust(16, b"\0") + struct.pack("<II4B", first, blocks,
                                                          0, 0, 0, 0)
    return out


def _page(data):
    assert len(data) <= NAND_PAGE
    return data + b"\xff" * (NAND_PAGE - len(data))


def mibib_image(num_blocks=None, pages=MIBIB_FILE_PAGES):
    """MIBIB image. num_blocks=None: package form (last length 0xFFFFFFFF,
    check CRC 0); otherwise the form after the patch file is applied for a
    device of num_blocks blocks."""
    n = len(NAND_TABLE)
    p0 = _page(struct.pack("<4I", MIBIB_MAGIC1, MIBIB_MAGIC2, MIBIB_VERSION,
                           MIBIB_AGE))
    p1 = _page(struct.pack("<4I", SYSPT_MAGIC1, SYSPT_MAGIC2, SYSPT_VERSION, n)
               + _mibib_entries(True, num_blocks))
    p2 = _page(struct.pack("<4I", USRPT_MAGIC1, USRPT_MAGIC2, USRPT_VERSION, n)
               + _mibib_entries(False, None))
    crc = crc32(p0 + p1) if num_blocks is not None else 0
    p3 = _page(struct.pack("<4I", MIBIB_MAGIC1, MIBIB_MAGIC2, MIBIB_VERSION, crc))
    img = p0 + p1 + p2 + p3
    img += b"\xff" * (NAND_PAGE * (pages - 4))
    return img


# ---------------------------------------------------------------------------
# Patch expressions and application (strict grammar, never eval)
# ---------------------------------------------------------------------------

def eval_expr(text, disk_sectors=None, disk_blocks=None):
    """Evaluate a manifest expression: integer, NUM_DISK_SECTORS-N.,
    NUM_DISK_BLOCKS-N. (CRC32(...) handled by apply_patch)."""
    t = text.strip()
    for var, val in (("NUM_DISK_SECTORS", disk_sectors),
                     ("NUM_DISK_BLOCKS", disk_blocks)):
        if t.startswith(var):
            rest = t[len(var):]
            if val is None:
                raise ValueError("%s needs a disk size" % var)
            if rest == "":
                return val
            if rest[0] not in "+-" or not rest.endswith(".") or \
                    not rest[1:-1].isdigit():
                raise ValueError("bad expression %r" % text)
            n = int(rest[1:-1])
            return val - n if rest[0] == "-" else val + n
    t2 = t[:-1] if t.endswith(".") else t
    if t2.isdigit():
        return int(t2)
    if t2.lower().startswith("0x"):
        return int(t2, 16)
    raise ValueError("bad expression %r" % text)


def apply_patch(buf, patch, sector_size, disk_sectors=None, disk_blocks=None):
    """Apply one <patch> (dict of attributes) to bytearray buf, which holds a
    file or a whole disk. Sector numbers index buf in sector_size units."""
    start = eval_expr(patch["start_sector"], disk_sectors, disk_blocks)
    off = start * sector_size + int(patch["byte_offset"])
    size = int(patch["size_in_bytes"])
    val = patch["value"].strip()
    if val.startswith("CRC32(") and val.endswith(")"):
        a, b = val[6:-1].split(",")
        s = eval_expr(a, disk_sectors, disk_blocks) * sector_size
        ln = eval_expr(b, disk_sectors, disk_blocks)
        if s + ln > len(buf):
            raise ValueError("CRC32 range outside the target")
        v = crc32(bytes(buf[s:s + ln]))
    else:
        v = eval_expr(val, disk_sectors, disk_blocks)
    if off + size > len(buf):
        raise ValueError("patch outside the target")
    buf[off:off + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


# ---------------------------------------------------------------------------
# UBI images built with mtd-utils
# ---------------------------------------------------------------------------

FIXED_MTIME = 1577836800         # 2020-01-01T00:00:00Z
UBIFS_NODE_MAGIC = 0x06101831


def need_mtd_utils():
    missing = [t for t in ("mkfs.ubifs", "ubinize") if not shutil.which(t)
               and not os.path.exists("/usr/sbin/" + t)]
    if missing:
        sys.exit("error: %s not found: install the Debian package mtd-utils "
                 "(scripts/install-deps.sh installs it)" % " and ".join(missing))


def _tool(name):
    p = shutil.which(name)
    return p if p else "/usr/sbin/" + name


def _ubifs_crc(data):
    # UBIFS: crc32_le seeded with 0xFFFFFFFF, no final inversion
    return (~zlib.crc32(data)) & 0xFFFFFFFF


def pin_ubifs(img, seed, name):
    """Make a mkfs.ubifs image reproducible: set the superblock UUID to a
    value derived from (seed, name) and every inode's atime/ctime/mtime to
    FIXED_MTIME, recomputing the node CRCs. mkfs.ubifs 2.1.5 has no option
    for the UUID, and ctime cannot be set on the source tree."""
    buf = bytearray(img)
    uuid = prand(seed, name + "/uuid", 16)
    pos = 0
    n = len(buf)
    magic = struct.pack("<I", UBIFS_NODE_MAGIC)
    while True:
        pos = buf.find(magic, pos)
        if pos < 0 or pos + 24 > n:
            break
        if pos % 8:
            pos += 1
            continue
        crc, _sq, ln, ntype = struct.unpack_from("<IQIB", buf, pos + 4)
        if ln < 24 or pos + ln > n or _ubifs_crc(bytes(buf[pos + 8:pos + ln])) != crc:
            pos += 8
            continue
        changed = False
        if ntype == 6:              # superblock: uuid at node offset 108
            buf[pos + 108:pos + 124] = uuid
            changed = True
        elif ntype == 0:            # inode: atime, ctime, mtime (sec u64, nsec u32 later)
            struct.pack_into("<QQQII I", buf, pos + 56, FIXED_MTIME, FIXED_MTIME,
                             FIXED_MTIME, 0, 0, 0)
            changed = True
        if changed:
            struct.pack_into("<I", buf, pos + 4, _ubifs_crc(bytes(buf[pos + 8:pos + ln])))
        pos += (ln + 7) & ~7
    return bytes(buf)


def make_tree(root, entries):
    """entries: list of (relpath, kind, payload). kind: 'dir', 'file' (bytes),
    'exec' (bytes), 'link' (target). Modes and times are fixed."""
    os.makedirs(root, exist_ok=True)
    for rel, kind, payload in entries:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if kind == "dir":
            os.makedirs(p, exist_ok=True)
        elif kind == "link":
            os.symlink(payload, p)
        else:
            write_file(p, payload)
    for dirpath, dirnames, filenames in os.walk(root):
        for nm in filenames + dirnames:
            p = os.path.join(dirpath, nm)
            if os.path.islink(p):
                continue
            if os.path.isdir(p):
                os.chmod(p, 0o755)
            else:
                os.chmod(p, 0o644)
    for rel, kind, payload in entries:
        if kind == "exec":
            os.chmod(os.path.join(root, rel), 0o755)
    os.chmod(root, 0o755)
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for nm in filenames + dirnames:
            os.utime(os.path.join(dirpath, nm), (FIXED_MTIME, FIXED_MTIME),
                     follow_symlinks=False)
    os.utime(root, (FIXED_MTIME, FIXED_MTIME))


def build_ubi(out_path, volumes, seed, name, tmp, max_pebs):
    """Build a UBI image with ubinize. volumes: list of dicts
    {name, tree: entries for make_tree or None (empty volume), size (empty
    volumes only), autoresize}. max_pebs bounds the UBIFS max LEB count (the
    partition's blocks). image_seq is fixed, derived from (seed, name)."""
    need_mtd_utils()
    work = tempfile.mkdtemp(prefix="ubi-", dir=tmp)
    ini = []
    max_leb = max(17, max_pebs - 8)
    for vid, vol in enumerate(volumes):
        ini.append("[%s]" % vol["name"])
        ini.append("mode=ubi")
        if vol.get("tree") is not None:
            root = os.path.join(work, "root%d" % vid)
            make_tree(root, vol["tree"])
            raw = os.path.join(work, "vol%d.ubifs" % vid)
            subprocess.run([_tool("mkfs.ubifs"), "-U", "-x", vol.get("compr", "lzo"),
                            "-m", str(NAND_PAGE), "-e", "253952",
                            "-c", str(max_leb), "-r", root, "-o", raw],
                           check=True, stdout=subprocess.DEVNULL)
            with open(raw, "rb") as f:
                pinned = pin_ubifs(f.read(), seed, "%s/%s" % (name, vol["name"]))
            write_file(raw, pinned)
            ini.append("image=%s" % raw)
        else:
            ini.append("vol_size=%d" % vol["size"])
        ini.append("vol_id=%d" % vid)
        ini.append("vol_type=dynamic")
        ini.append("vol_name=%s" % vol["name"])
        ini.append("vol_alignment=1")
        if vol.get("autoresize"):
            ini.append("vol_flags=autoresize")
    inip = os.path.join(work, "ubinize.ini")
    write_file(inip, ("\n".join(ini) + "\n").encode())
    seq = (crc32(("%d:%s" % (seed, name)).encode()) & 0x7FFFFFFF) | 1
    subprocess.run([_tool("ubinize"), "-o", out_path, "-p", "256KiB", "-m",
                    str(NAND_PAGE), "-s", str(NAND_PAGE), "-Q", str(seq), inip],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)


def rootfs_tree(seed, name, payload_bytes, flavour="rootfs"):
    """A small Linux-looking tree. payload_bytes is spread over a few
    pseudo-binaries (deterministic content)."""
    t = [
        ("bin", "dir", None),
        ("sbin", "dir", None),
        ("etc", "dir", None),
        ("etc/init.d", "dir", None),
        ("lib", "dir", None),
        ("usr/bin", "dir", None),
        ("var/log", "dir", None),
        ("data", "dir", None),
        ("etc/hostname", "file", b"mdm9607\n"),
        ("etc/fstab", "file",
         b"# modemfw test image (%s)\nproc /proc proc defaults 0 0\n"
         b"ubi0:usrfs /data ubifs defaults 0 0\n" % flavour.encode()),
        ("etc/version", "file", ("%s seed=%d\n" % (name, seed)).encode()),
        ("etc/init.d/rcS", "exec",
         b"#!/bin/sh\nmount -a\necho modemfw test system up\n"),
        ("etc/data/mobileap_cfg.xml", "file",
         b"<?xml version=\"1.0\"?>\n<system><MobileAPCfg><WanCfg>"
         b"<AutoConnect>1</AutoConnect></WanCfg></MobileAPCfg></system>\n"),
        ("bin/sh", "link", "busybox"),
    ]
    pieces = [("bin/busybox", 0.15), ("lib/libc.so.6", 0.2),
              ("usr/bin/atfwd_daemon", 0.1), ("usr/bin/QCMAP_ConnectionManager", 0.15),
              ("lib/libqmi.so", 0.4)]
    for rel, frac in pieces:
        n = max(512, int(payload_bytes * frac))
        t.append((rel, "exec", pseudo_binary(seed, "%s/%s" % (name, rel), n)))
    return t


def modem_tree(seed, name, payload_bytes):
    """NON-HLOS volume content: /image with a split modem image like the real
    ones (modem.mdt + modem.bNN) plus a fake mba and a build id."""
    elf = fake_elf32_arm(seed, name + "/modem", payload_bytes,
                         notice="modemfw test modem image \u2014 not real firmware",
                         base=0x87C00000)
    t = [("image", "dir", None), ("verinfo", "dir", None),
         ("verinfo/ver_info.txt", "file",
          ("{\"Image_Build_IDs\": {\"modem\": \"MPSS.JO.3.0-MODEMFW-%d\"}}\n" % seed)
          .encode()),
         ("image/modem.mdt", "file", elf[:4096])]
    # split like pil-splitter: one file per 1 MiB piece after the headers
    off, i = 4096, 0
    while off < len(elf):
        t.append(("image/modem.b%02d" % i, "file", elf[off:off + (1 << 20)]))
        off += 1 << 20
        i += 1
    t.append(("image/mba.mbn", "file",
              fake_elf32_arm(seed, name + "/mba", 65536,
                             notice="modemfw test mba \u2014 not real firmware")))
    return t


# ---------------------------------------------------------------------------
# Android sparse images
# ---------------------------------------------------------------------------

SPARSE_MAGIC = 0xED26FF3A
CHUNK_RAW, CHUNK_FILL, CHUNK_DONT_CARE, CHUNK_CRC = 0xCAC1, 0xCAC2, 0xCAC3, 0xCAC4


def sparse_image(seed, name, total_blocks, blk=4096):
    """Write an Android sparse image (v1.0) with RAW, FILL and DONT_CARE
    chunks. Returns (sparse bytes, expanded bytes with DONT_CARE as zeros,
    chunk list for expected.json)."""
    plan = []
    r = prand(seed, name + "/plan", 256)
    left = total_blocks
    i = 0
    kinds = [CHUNK_RAW, CHUNK_FILL, CHUNK_RAW, CHUNK_DONT_CARE]
    while left > 0:
        kind = kinds[i % len(kinds)]
        n = min(left, 1 + r[i % len(r)] % max(1, total_blocks // 6))
        plan.append((kind, n))
        left -= n
        i += 1
    out = bytearray()
    out += struct.pack("<IHHHHIIII", SPARSE_MAGIC, 1, 0, 28, 12, blk,
                       total_blocks, len(plan), 0)
    exp = bytearray()
    chunks = []
    for ci, (kind, n) in enumerate(plan):
        start = len(exp)
        if kind == CHUNK_RAW:
            data = pseudo_binary(seed, "%s/raw%d" % (name, ci), n * blk)
            out += struct.pack("<HHII", kind, 0, n, 12 + len(data)) + data
            exp += data
        elif kind == CHUNK_FILL:
            fill = prand(seed, "%s/fill%d" % (name, ci), 4)
            out += struct.pack("<HHII", kind, 0, n, 16) + fill
            exp += fill * (n * blk // 4)
        else:
            out += struct.pack("<HHII", kind, 0, n, 12)
            exp += b"\0" * (n * blk)
        chunks.append({"type": {CHUNK_RAW: "raw", CHUNK_FILL: "fill",
                                CHUNK_DONT_CARE: "dont_care"}[kind],
                       "offset": start, "size": n * blk})
    return bytes(out), bytes(exp), chunks


def sparse_expand(data):
    """Independent reader for the self-test: returns the expanded bytes."""
    magic, major, minor, fh, ch, blk, total, nchunks, _ = \
        struct.unpack_from("<IHHHHIIII", data, 0)
    if magic != SPARSE_MAGIC or major != 1 or fh != 28 or ch != 12:
        raise ValueError("not a sparse image")
    pos = fh
    out = bytearray()
    for _ in range(nchunks):
        kind, _r, n, tot = struct.unpack_from("<HHII", data, pos)
        body = data[pos + ch:pos + tot]
        if kind == CHUNK_RAW:
            if len(body) != n * blk:
                raise ValueError("raw chunk size")
            out += body
        elif kind == CHUNK_FILL:
            out += body[:4] * (n * blk // 4)
        elif kind == CHUNK_DONT_CARE:
            out += b"\0" * (n * blk)
        elif kind == CHUNK_CRC:
            pass
        else:
            raise ValueError("chunk type %#x" % kind)
        pos += tot
    if len(out) != total * blk:
        raise ValueError("expanded size mismatch")
    return bytes(out)


# ---------------------------------------------------------------------------
# Package bookkeeping
# ---------------------------------------------------------------------------

def write_md5(outdir):
    """md5.txt at the package root: "<md5>  <relative path>" for every file
    (md5.txt itself excluded), sorted, forward slashes."""
    lines = []
    for dirpath, dirnames, filenames in os.walk(outdir):
        dirnames.sort()
        for nm in sorted(filenames):
            p = os.path.join(dirpath, nm)
            rel = os.path.relpath(p, outdir).replace(os.sep, "/")
            if rel == "md5.txt":
                continue
            lines.append("%s  %s" % (md5_file(p), rel))
    lines.sort(key=lambda s: s[34:])
    write_file(os.path.join(outdir, "md5.txt"), ("\n".join(lines) + "\n").encode())


def write_zip(outdir, zpath):
    """Deterministic zip of the package (fixed timestamps, sorted names)."""
    names = []
    for dirpath, dirnames, filenames in os.walk(outdir):
        for nm in filenames:
            names.append(os.path.relpath(os.path.join(dirpath, nm), outdir))
    names.sort()
    with zipfile.ZipFile(zpath, "w") as z:
        for rel in names:
            zi = zipfile.ZipInfo(rel.replace(os.sep, "/"), (1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            with open(os.path.join(outdir, rel), "rb") as f:
                z.writestr(zi, f.read(), compresslevel=1)


def file_info(outdir, rel):
    p = os.path.join(outdir, rel)
    return {"path": rel, "size": os.path.getsize(p), "sha256": sha256_file(p)}


def xml_path_to_rel(filename, xml_dir_rel):
    """Resolve a manifest filename (Windows "..\\x" relative to the XML's
    directory) into a package-relative forward-slash path."""
    parts = xml_dir_rel.split("/") if xml_dir_rel else []
    for comp in filename.replace("\\", "/").split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise ValueError("path escapes the package: %r" % filename)
            parts.pop()
        else:
            parts.append(comp)
    return "/".join(parts)


def write_json(path, obj):
    write_file(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


# ---------------------------------------------------------------------------
# GPT (eMMC)
# ---------------------------------------------------------------------------

def gpt_guid(text):
    """Deterministic version-4-shaped GUID from a text, in GPT (mixed-endian)
    byte order."""
    import uuid
    h = hashlib.sha256(("modemfw-gpt:" + text).encode()).digest()[:16]
    return uuid.UUID(bytes=h, version=4).bytes_le


def _guid_bytes(s):
    import uuid
    return uuid.UUID(s).bytes_le


def gpt_entries(disk_sectors=None):
    """The 128-entry array (16384 bytes). disk_sectors=None: package form
    (the grow partition's ending LBA left 0 for the patch)."""
    arr = bytearray(GPT_ENTRIES * GPT_ENTRY_SIZE)
    for i, (name, first, n) in enumerate(EMMC_TABLE):
        if n == EMMC_TO_END:
            last = disk_sectors - 34 if disk_sectors is not None else 0
        else:
            last = first + n - 1
        ent = (_guid_bytes(GPT_TYPE_BASIC_DATA) + gpt_guid(name)
               + struct.pack("<QQQ", first, last, 0)
               + name.encode("utf-16-le").ljust(72, b"\0"))
        arr[i * GPT_ENTRY_SIZE:(i + 1) * GPT_ENTRY_SIZE] = ent
    return bytes(arr)


def gpt_header(my_lba, alt_lba, last_usable, entries_lba, entries_crc):
    h = bytearray(b"EFI PART" + struct.pack("<IIII", 0x00010000, 92, 0, 0)
                  + struct.pack("<QQQQ", my_lba, alt_lba, 34, last_usable)
                  + gpt_guid("disk") + struct.pack("<QII", entries_lba,
                                                    GPT_ENTRIES, GPT_ENTRY_SIZE)
                  + struct.pack("<I", entries_crc))
    assert len(h) == 92
    struct.pack_into("<I", h, 16, crc32(bytes(h)))
    return bytes(h) + b"\0" * (EMMC_SECTOR - 92)


def protective_mbr():
    m = bytearray(EMMC_SECTOR)
    # one partition of type 0xEE from LBA 1; size 0xFFFFFFFF (not patched,
    # accepted by every GPT reader; the real size depends on the disk)
    m[446:462] = bytes([0, 0x00, 0x02, 0x00, 0xEE, 0xFF, 0xFF, 0xFF]) + \
        struct.pack("<II", 1, 0xFFFFFFFF)
    m[510:512] = b"\x55\xaa"
    return bytes(m)


def gpt_main(disk_sectors=None):
    """gpt_main0.bin (34 sectors): protective MBR, header, entries. With
    disk_sectors=None the package form (fields for patch0.xml left 0, CRCs
    valid for that form); otherwise the final primary GPT of such a disk."""
    ents = gpt_entries(disk_sectors)
    if disk_sectors is None:
        hdr = gpt_header(1, 0, 0, 2, crc32(ents))
    else:
        hdr = gpt_header(1, disk_sectors - 1, disk_sectors - 34, 2, crc32(ents))
    return protective_mbr() + hdr + ents


def gpt_backup(disk_sectors=None):
    """gpt_backup0.bin (33 sectors): entries then header."""
    ents = gpt_entries(disk_sectors)
    if disk_sectors is None:
        hdr = gpt_header(0, 1, 0, 0, crc32(ents))
    else:
        hdr = gpt_header(disk_sectors - 1, 1, disk_sectors - 34, disk_sectors - 33,
                         crc32(ents))
    return ents + hdr


def gpt_patches():
    """patch0.xml in ptool style: pairs (file, DISK), in an order that leaves
    a valid GPT when applied in document order: plain fields first, then the
    entry-array CRCs, then the header CRCs (computed over zeroed CRC fields)."""
    userdata = next(i for i, t in enumerate(EMMC_TABLE) if t[2] == EMMC_TO_END)
    ud_sec = (userdata * GPT_ENTRY_SIZE) // EMMC_SECTOR
    ud_off = (userdata * GPT_ENTRY_SIZE) % EMMC_SECTOR + 40
    P = []

    def pair(fname, fsec, dsec, off, size, value_f, value_d, what):
        for fn, sec, val in ((fname, fsec, value_f), ("DISK", dsec, value_d)):
            P.append({"SECTOR_SIZE_IN_BYTES": "512", "byte_offset": str(off),
                      "filename": fn, "physical_partition_number": "0",
                      "size_in_bytes": str(size), "start_sector": str(sec),
                      "value": val, "what": what})

    M, B = "gpt_main0.bin", "gpt_backup0.bin"
    BH = "NUM_DISK_SECTORS-1."
    pair(M, 1, 1, 16, 4, "0", "0", "Zero Out Header CRC in Primary Header.")
    pair(B, 32, BH, 16, 4, "0", "0", "Zero Out Header CRC in Backup Header.")
    pair(M, 1, 1, 48, 8, "NUM_DISK_SECTORS-34.", "NUM_DISK_SECTORS-34.",
         "Update Primary Header with LastUseableLBA.")
    pair(B, 32, BH, 48, 8, "NUM_DISK_SECTORS-34.", "NUM_DISK_SECTORS-34.",
         "Update Backup Header with LastUseableLBA.")
    pair(M, 1, 1, 32, 8, "NUM_DISK_SECTORS-1.", "NUM_DISK_SECTORS-1.",
         "Update Primary Header with BackupGPT Header Location.")
    pair(B, 32, BH, 24, 8, "NUM_DISK_SECTORS-1.", "NUM_DISK_SECTORS-1.",
         "Update Backup Header with CurrentLBA.")
    pair(B, 32, BH, 72, 8, "NUM_DISK_SECTORS-33.", "NUM_DISK_SECTORS-33.",
         "Update Backup Header with Partition Array Location.")
    pair(M, 2 + ud_sec, 2 + ud_sec, ud_off, 8, "NUM_DISK_SECTORS-34.",
         "NUM_DISK_SECTORS-34.",
         "Update last partition %d 'userdata' with actual size in Primary Header."
         % (userdata + 1))
    pair(B, ud_sec, "NUM_DISK_SECTORS-%d." % (33 - ud_sec), ud_off, 8,
         "NUM_DISK_SECTORS-34.", "NUM_DISK_SECTORS-34.",
         "Update last partition %d 'userdata' with actual size in Backup Header."
         % (userdata + 1))
    pair(M, 1, 1, 88, 4, "CRC32(2,16384)", "CRC32(2,16384)",
         "Update Primary Header with CRC of Partition Array.")
    pair(B, 32, BH, 88, 4, "CRC32(0,16384)", "CRC32(NUM_DISK_SECTORS-33.,16384)",
         "Update Backup Header with CRC of Partition Array.")
    pair(M, 1, 1, 16, 4, "CRC32(1,92)", "CRC32(1,92)",
         "Update Primary Header with CRC of Primary Header.")
    pair(B, 32, BH, 16, 4, "CRC32(32,92)", "CRC32(NUM_DISK_SECTORS-1.,92)",
         "Update Backup Header with CRC of Backup Header.")
    return P


def apply_file_patches(data, basename, patches, disk_sectors=None, disk_blocks=None):
    """Apply, in document order, the patches whose filename is `basename`."""
    buf = bytearray(data)
    for p in patches:
        if p["filename"] == basename:
            apply_patch(buf, p, int(p["SECTOR_SIZE_IN_BYTES"]), disk_sectors, disk_blocks)
    return bytes(buf)
