#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
"""Generate SRC and DST targetfiles for the DFOTA builder tests
(docs/dfota-format.md):

    OUT/src/            targetfiles of the firmware on the module
    OUT/dst/            targetfiles of the new firmware
    OUT/wrong-src/      (--wrong-source) SRC with a few patched files changed
    OUT/lists/          fullota.txt, noota.txt, chmod.txt (also in dst/OTA/)
    OUT/*.zip           (--zip) the same trees as zips (unix modes, symlinks)
    OUT/summary.json    what changed, for the tests

Each targetfiles holds SYSTEM/ (a rootfs with binaries, libraries, kernel
modules, configs, init scripts, symlinks, a preserved user area data/user/),
BOOTABLE_IMAGES/boot.img, RADIO/NON-HLOS.ubi (mtd-utils), MULTIFOTA/tz and
rpm (DST adds aboot), RECOVERY/, OTA/ lists, META/filesystem_config.txt and
the version files. DST differs from SRC in well over 300 rootfs entries.

Binaries are deterministic pseudo-code with localized edits, as a compiler
produces for a small source change, so bsdiff finds them. Everything is a
pure function of --seed (SHAKE-256 via pkglib.prand); mkfs.ubifs output is
pinned by pkglib.
"""

import argparse
import hashlib
import json
import os
import shutil
import stat
import struct
import sys
import tempfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkglib  # noqa: E402

SRC_VERSION = "RG520NEUDCR01A01M4G_01.001.01.001"
DST_VERSION = "RG520NEUDCR01A01M4G_01.002.01.002"
FIXED_MTIME = pkglib.FIXED_MTIME


class Rng:
    """Deterministic integers from SHAKE-256 (stable across Python versions)."""

    def __init__(self, seed, name):
        self.buf = pkglib.prand(seed, "rng/" + name, 1 << 16)
        self.pos = 0

    def below(self, n):
        if self.pos + 4 > len(self.buf):
            self.buf = hashlib.shake_256(self.buf).digest(1 << 16)
            self.pos = 0
        v = struct.unpack_from("<I", self.buf, self.pos)[0]
        self.pos += 4
        return v % n if n > 0 else 0


def edit_code(seed, name, data, edits=4):
    """Localized edits: patch a few words, shift a short run, insert a few
    bytes — the kind of change a one-line source fix makes in a binary."""
    r = Rng(seed, "edit/" + name)
    out = bytearray(data)
    for i in range(edits):
        if not out:
            break
        pos = r.below(len(out))
        kind = r.below(4)
        if kind == 0:                       # change a few words
            n = min(4 + r.below(12), len(out) - pos)
            out[pos:pos + n] = pkglib.prand(seed, "%s/w%d" % (name, i), n)
        elif kind == 1:                     # insert a short sequence
            out[pos:pos] = pkglib.prand(seed, "%s/i%d" % (name, i), 8 + r.below(40))
        elif kind == 2:                     # delete a short run
            del out[pos:pos + 4 + r.below(24)]
        else:                               # bump immediates (address shift)
            for k in range(pos, min(pos + 64, len(out) - 3), 16):
                out[k] = (out[k] + 4) & 0xFF
    return bytes(out)


def config_text(seed, name, lines, edited=False):
    r = Rng(seed, "cfg/" + name)
    out = ["# %s - modemfw test configuration" % name]
    for i in range(lines):
        key = "option_%03d" % i
        val = r.below(100000)
        if edited and i % 7 == 3:
            val += 1
        out.append("%s=%d" % (key, val))
    if edited:
        out.append("new_option=enabled")
    return ("\n".join(out) + "\n").encode()


def init_script(name, edited=False):
    body = "#!/bin/sh\n# init script for %s\ncase \"$1\" in\nstart)\n  /usr/bin/%s &\n  ;;\n" % (name, name)
    if edited:
        body += "restart)\n  killall %s; /usr/bin/%s &\n  ;;\n" % (name, name)
    body += "stop)\n  killall %s\n  ;;\nesac\n" % name
    return body.encode()


class Tree:
    """A rootfs model: path -> (kind, payload, mode). kind: file, dir, link."""

    def __init__(self):
        self.e = {}

    def dir(self, path, mode=0o755):
        self.e[path] = ("dir", None, mode)

    def file(self, path, data, mode=0o644):
        parts = path.split("/")
        for i in range(1, len(parts)):
            p = "/".join(parts[:i])
            if p not in self.e:
                self.e[p] = ("dir", None, 0o755)
        self.e[path] = ("file", data, mode)

    def link(self, path, target):
        parts = path.split("/")
        for i in range(1, len(parts)):
            p = "/".join(parts[:i])
            if p not in self.e:
                self.e[p] = ("dir", None, 0o755)
        self.e[path] = ("link", target, 0o777)

    def remove(self, path):
        for p in [p for p in self.e if p == path or p.startswith(path + "/")]:
            del self.e[p]

    def copy(self):
        t = Tree()
        t.e = dict(self.e)
        return t

    def write(self, root):
        os.makedirs(root, exist_ok=True)
        for p in sorted(self.e):
            kind, payload, mode = self.e[p]
            full = os.path.join(root, p)
            if kind == "dir":
                os.makedirs(full, exist_ok=True)
            elif kind == "link":
                os.makedirs(os.path.dirname(full), exist_ok=True)
                os.symlink(payload, full)
            else:
                pkglib.write_file(full, payload)
        for p in sorted(self.e, reverse=True):
            kind, payload, mode = self.e[p]
            full = os.path.join(root, p)
            if kind != "link":
                os.chmod(full, mode)
            os.utime(full, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


LIBS = ["libqmi", "libqmiservices", "libdsi_netctrl", "libqcmaputils", "libnetmgr", "libdiag",
        "libmcm", "libqdi", "libconfigdb", "libxml", "libglib", "libcutils", "liblog",
        "libssl", "libcrypto", "libz", "libcurl", "libjson", "libubus", "libuci"]
DAEMONS = ["QCMAP_ConnectionManager", "atfwd_daemon", "qmuxd", "netmgrd", "diagrebootapp",
           "quectel-CM", "ql_manager_server", "thermal-engine", "time_daemon", "adbd",
           "port_bridge", "qti", "irsc_util", "mcm_ril_service", "dnsmasq", "hostapd",
           "wpa_supplicant", "dropbear", "ipacm", "ql-gps", "qmi_shell", "ql_nf_server",
           "rmt_storage", "tftp_server", "cxm-apps", "sensors", "audio_ftm", "eth_mgr",
           "ql-ota", "ql_cmux"]


def rootfs(seed, version):
    t = Tree()
    for d in ("bin", "sbin", "etc", "etc/init.d", "lib", "usr/bin", "usr/lib/modules",
              "usr/share", "var", "var/log", "tmp", "data", "data/user", "cache"):
        t.dir(d)
    t.file("bin/busybox", pkglib.pseudo_binary(seed, "bin/busybox", 48 << 10), 0o755)
    for app in ("sh", "ls", "cat", "cp", "mv", "rm", "mkdir", "mount", "umount", "ps",
                "kill", "grep", "sed", "awk", "vi", "ping", "ifconfig", "route", "dmesg",
                "sleep", "echo", "date", "tar", "gzip", "find"):
        t.link("bin/" + app, "busybox")
    t.link("sbin/init", "../bin/busybox")
    t.link("usr/bin/logread", "../../bin/busybox")
    for i, lib in enumerate(LIBS):
        so = "lib/%s.so.1.0" % lib
        t.file(so, pkglib.pseudo_binary(seed, so, 6144 + 512 * (i % 8)), 0o755)
        t.link("lib/%s.so.1" % lib, "%s.so.1.0" % lib)
        t.link("lib/%s.so" % lib, "%s.so.1" % lib)
    for i, d in enumerate(DAEMONS):
        p = "usr/bin/" + d
        t.file(p, pkglib.pseudo_binary(seed, p, 3072 + 256 * (i % 16)), 0o755)
        t.file("etc/init.d/" + d, init_script(d), 0o755)
    for i in range(120):
        p = "usr/lib/modules/drv%03d.ko" % i
        t.file(p, pkglib.pseudo_binary(seed, p, 1536 + 64 * (i % 20)))
    for i in range(60):
        p = "etc/conf/service%02d.conf" % i
        t.file(p, config_text(seed, p, 12 + i % 9))
    for i in range(30):
        p = "usr/share/oldfeature/data%02d.bin" % i
        t.file(p, pkglib.prand(seed, p, 300 + i * 7))
    t.dir("usr/share/oldfeature/empty")
    for i in range(40):
        p = "usr/share/zoneinfo/zone%02d" % i
        t.file(p, pkglib.prand(seed, p, 200 + i))
    t.link("usr/bin/ql-tool", "../../bin/busybox")
    t.file("etc/hostname", b"mdm9x55\n")
    t.file("etc/fstab", b"proc /proc proc defaults 0 0\nubi0:usrfs /data ubifs defaults 0 0\n")
    t.file("etc/shadow", b"root:*:19000:0:99999:7:::\n", 0o600)
    for i in range(8):
        p = "data/user/profile%d.cfg" % i
        t.file(p, config_text(seed, p, 5))
    t.file("data/user/apn.conf", b"apn=internet\n")
    t.file("etc/" + "quectel-project-version", (version + "\n").encode())
    t.file("etc/quectel-project-version.prop", ("version=%s\n" % version).encode())
    return t


def make_dst(seed, src):
    """The new firmware: patched binaries, new and removed files, changed
    configs, links and permissions. Returns (tree, counts)."""
    t = src.copy()
    n = {"patched": 0, "added": 0, "removed": 0, "configs": 0, "links": 0, "meta": 0}
    for p in sorted(src.e):
        kind, data, mode = src.e[p]
        if kind != "file":
            continue
        if p.startswith(("lib/", "usr/bin/", "usr/lib/modules/")) or p == "bin/busybox":
            idx = int(hashlib.sha1(p.encode()).hexdigest(), 16)
            # most code changes; a few modules stay as they are
            if p.startswith("usr/lib/modules/") and idx % 5 == 0:
                continue
            t.file(p, edit_code(seed, p, data, 2 + idx % 4), mode)
            n["patched"] += 1
        elif p.startswith("etc/conf/") and int(p[-7:-5]) % 2 == 0:
            t.file(p, config_text(seed, p, 12 + int(p[-7:-5]) % 9, edited=True), mode)
            n["configs"] += 1
        elif p.startswith("etc/init.d/") and len(p) % 3 == 0:
            t.file(p, init_script(p.split("/")[-1], edited=True), mode)
            n["configs"] += 1
        elif p.startswith("data/user/"):
            # factory defaults change, the user's files must survive (noota)
            t.file(p, data + b"# new factory default\n", mode)
    # removed: a whole feature directory and some kernel modules
    t.remove("usr/share/oldfeature")
    n["removed"] += 32
    for i in range(100, 120):
        t.remove("usr/lib/modules/drv%03d.ko" % i)
        n["removed"] += 1
    for i in range(30, 40):     # time zone data update
        p = "usr/share/zoneinfo/zone%02d" % i
        t.file(p, pkglib.prand(seed, p + "/2026b", 200 + i))
        n["configs"] += 1
    t.remove("data/user/apn.conf")      # gone from the factory image, kept on the module
    # new: a feature tree with a subdirectory and an empty directory
    for i in range(25):
        p = "usr/lib/newfeature/plugin%02d.so" % i
        t.file(p, pkglib.pseudo_binary(seed, p, 2048 + 128 * i), 0o755)
    for i in range(10):
        p = "usr/lib/newfeature/conf/p%02d.conf" % i
        t.file(p, config_text(seed, p, 6))
    t.dir("usr/lib/newfeature/cache", 0o700)
    t.link("usr/lib/newfeature/current", "plugin00.so")
    for i in range(20):
        p = "usr/lib/modules/new%02d.ko" % i
        t.file(p, pkglib.pseudo_binary(seed, p, 1800))
    n["added"] += 25 + 10 + 2 + 20
    # a library version bump: new file, link moved
    t.file("lib/libqmi.so.1.1", edit_code(seed, "libqmi11", src.e["lib/libqmi.so.1.0"][1]), 0o755)
    t.link("lib/libqmi.so.1", "libqmi.so.1.1")
    t.link("bin/ash", "busybox")
    t.remove("bin/tar")
    n["links"] += 3
    # a symlink becomes a real program
    t.file("usr/bin/ql-tool", pkglib.pseudo_binary(seed, "usr/bin/ql-tool", 4096), 0o755)
    n["links"] += 1
    # permissions only (content unchanged)
    t.e["etc/hostname"] = ("file", src.e["etc/hostname"][1], 0o600)
    t.e["usr/share/zoneinfo/zone00"] = ("file", src.e["usr/share/zoneinfo/zone00"][1], 0o755)
    n["meta"] += 2
    t.file("etc/quectel-project-version", (DST_VERSION + "\n").encode())
    t.file("etc/quectel-project-version.prop", ("version=%s\n" % DST_VERSION).encode())
    return t, n


# filesystem_config.txt lines (uid/gid/mode by path), Android order
def fs_config(tree, extra):
    lines = []
    for p in sorted(tree.e):
        kind, _, mode = tree.e[p]
        if kind == "link":
            continue
        uid = gid = 0
        if p.startswith("usr/bin/ql"):
            gid = 1001
        if p in extra:
            uid, gid, mode = extra[p]
        lines.append("%s %d %d %04o" % (p, uid, gid, mode))
    return ("\n".join(lines) + "\n").encode()


CHMOD = b"""# path mode uid gid [dmode]
data/user 0640 1000 1000 0750
usr/bin/atfwd_daemon 0750 0 1002
usr/lib/newfeature 0644 0 0 0755
"""
FULLOTA = b"""# shipped whole, never patched
etc/init.d/adbd
usr/bin/qmi_shell
"""
NOOTA = b"""# user files kept across updates
data/user/
"""


def targetfiles(seed, out, tree, version, dst):
    sysroot = os.path.join(out, "SYSTEM")
    tree.write(sysroot)
    extra = {"etc/shadow": (0, 42, 0o640)}
    if dst:
        extra["usr/bin/dropbear"] = (0, 0, 0o700)      # metadata change via fs_config
    pkglib.write_file(os.path.join(out, "META/filesystem_config.txt"), fs_config(tree, extra))
    boot = pkglib.android_boot_img(seed, "boot", 192 << 10)
    if dst:
        kern = edit_code(seed, "boot-kernel", boot[4096:4096 + (192 << 10)], 6)
        boot = boot[:4096] + kern + boot[4096 + (192 << 10):]
    pkglib.write_file(os.path.join(out, "BOOTABLE_IMAGES/boot.img"), boot)
    tz = pkglib.fake_elf32_arm(seed, "tz", 64 << 10, notice="modemfw test tz")
    if dst:
        tz = edit_code(seed, "tz", tz, 3)
    pkglib.write_file(os.path.join(out, "MULTIFOTA/tz"), tz)
    pkglib.write_file(os.path.join(out, "MULTIFOTA/rpm"),
                      pkglib.fake_elf32_arm(seed, "rpm", 32 << 10, notice="modemfw test rpm"))
    if dst:
        pkglib.write_file(os.path.join(out, "MULTIFOTA/aboot"),
                          pkglib.fake_elf32_arm(seed, "aboot", 24 << 10, notice="modemfw test aboot"))
    mt = pkglib.modem_tree(seed, "modem", 160 << 10)
    if dst:
        mt = [(r, k, edit_code(seed, "modem/" + r, p, 3) if k == "file" and r.endswith(".b00") else p)
              for r, k, p in mt]
        mt = [(r, k, p.replace(b"MODEMFW-", b"MODEMFW2-") if r.endswith("ver_info.txt") else p)
              for r, k, p in mt]
    tmp = tempfile.mkdtemp(prefix="gen-tf-")
    try:
        os.makedirs(os.path.join(out, "RADIO"), exist_ok=True)
        pkglib.build_ubi(os.path.join(out, "RADIO/NON-HLOS.ubi"),
                         [{"name": "modem", "tree": mt}], seed, "modem", tmp, 40)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rec = b"/dev/mtdblock%d /cache yaffs2\n" % (3 if dst else 2)
    pkglib.write_file(os.path.join(out, "RECOVERY/etc/recovery.fstab"), rec)
    pkglib.write_file(os.path.join(out, "RECOVERY/RAMDISK/init.rc"), b"on init\n  mkdir /cache\n")
    if dst:
        pkglib.write_file(os.path.join(out, "OTA/fullota.txt"), FULLOTA)
        pkglib.write_file(os.path.join(out, "OTA/noota.txt"), NOOTA)
        pkglib.write_file(os.path.join(out, "OTA/chmod.txt"), CHMOD)
    else:
        pkglib.write_file(os.path.join(out, "OTA/noota.txt"), NOOTA)
        pkglib.write_file(os.path.join(out, "OTA/chmod.txt"), CHMOD)
    for dirpath, dirnames, filenames in os.walk(out):
        for nm in filenames + dirnames:
            os.utime(os.path.join(dirpath, nm), (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


def write_targetfiles_zip(root, zpath):
    """Zip with unix modes in the external attributes, symlinks as links,
    directory entries; fixed times and sorted names."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for nm in dirnames + filenames:
            full = os.path.join(dirpath, nm)
            entries.append(os.path.relpath(full, root).replace(os.sep, "/"))
    entries.sort()
    with zipfile.ZipFile(zpath, "w") as z:
        for rel in entries:
            full = os.path.join(root, rel)
            st = os.lstat(full)
            if stat.S_ISDIR(st.st_mode):
                zi = zipfile.ZipInfo(rel + "/", (2008, 1, 1, 0, 0, 0))
                data = b""
            else:
                zi = zipfile.ZipInfo(rel, (2008, 1, 1, 0, 0, 0))
                if stat.S_ISLNK(st.st_mode):
                    data = os.readlink(full).encode()
                else:
                    with open(full, "rb") as f:
                        data = f.read()
                zi.compress_type = zipfile.ZIP_DEFLATED
            zi.create_system = 3
            zi.external_attr = st.st_mode << 16
            z.writestr(zi, data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--zip", action="store_true", help="also write src.zip, dst.zip (and wrong-src.zip)")
    ap.add_argument("--wrong-source", action="store_true",
                    help="also write wrong-src/: SRC with a few patched files changed")
    a = ap.parse_args()
    pkglib.need_mtd_utils()
    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    src = rootfs(a.seed, SRC_VERSION)
    dst, counts = make_dst(a.seed, src)
    targetfiles(a.seed, os.path.join(a.out, "src"), src, SRC_VERSION, False)
    targetfiles(a.seed, os.path.join(a.out, "dst"), dst, DST_VERSION, True)
    lists = os.path.join(a.out, "lists")
    pkglib.write_file(os.path.join(lists, "fullota.txt"), FULLOTA)
    pkglib.write_file(os.path.join(lists, "noota.txt"), NOOTA)
    pkglib.write_file(os.path.join(lists, "chmod.txt"), CHMOD)
    wrong = []
    if a.wrong_source:
        ws = src.copy()
        for p in ("usr/bin/netmgrd", "lib/libdiag.so.1.0", "usr/lib/modules/drv007.ko"):
            kind, data, mode = ws.e[p]
            ws.e[p] = (kind, edit_code(a.seed + 1000, "wrong/" + p, data, 1), mode)
            wrong.append("/" + p)
        targetfiles(a.seed, os.path.join(a.out, "wrong-src"), ws, SRC_VERSION, False)
    names = ["src", "dst"] + (["wrong-src"] if a.wrong_source else [])
    if a.zip:
        for nm in names:
            write_targetfiles_zip(os.path.join(a.out, nm), os.path.join(a.out, nm + ".zip"))
    changed = sum(1 for p in set(src.e) | set(dst.e) if src.e.get(p) != dst.e.get(p))
    summary = {"seed": a.seed, "src_version": SRC_VERSION, "dst_version": DST_VERSION,
               "rootfs_entries_changed": changed, "counts": counts, "wrong_source_files": wrong}
    pkglib.write_file(os.path.join(a.out, "summary.json"),
                      (json.dumps(summary, indent=1, sort_keys=True) + "\n").encode())
    print("targetfiles in %s: %d rootfs entries differ" % (a.out, changed))


if __name__ == "__main__":
    main()
