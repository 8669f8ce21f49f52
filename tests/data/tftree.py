#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A targetfiles tree as a module's file system, for the DFOTA tests.

  tftree.py materialize TF DEV    DEV/root (SYSTEM/ with TF's permissions), DEV/parts/<name>
                                  (boot, modem, MULTIFOTA/*), DEV/cache; prints the preserved
                                  paths (OTA/noota.txt) that exist, absolute, one a line
  tftree.py compare SRC DST DEV   DEV is DST (preserved paths: still SRC); exit 1 otherwise
  tftree.py snapshot DEV OUT      root entries and partition hashes of DEV, for equality checks

Permissions as docs/dfota-format.md says: OTA/chmod.txt (longest prefix), then
META/filesystem_config.txt, then the executable bit (755/644), uid/gid 0.
Ownership is only set and compared when running as root."""
import hashlib
import os
import shutil
import stat
import sys

AS_ROOT = os.geteuid() == 0


def lines(p):
    out = []
    if os.path.exists(p):
        for line in open(p):
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def sha1(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def expected(tf):
    """{rel: (kind, mode, uid, gid, sha1 | link target)} of tf's SYSTEM/ under its rules."""
    perms = []
    for line in lines(os.path.join(tf, "OTA/chmod.txt")):
        f = line.split()
        perms.append((f[0].strip("/"), int(f[1], 8), int(f[2]), int(f[3]),
                      int(f[4], 8) if len(f) > 4 else 0o755))
    fsc = {}
    for line in lines(os.path.join(tf, "META/filesystem_config.txt")):
        f = line.split()
        fsc[f[0].strip("/")] = (int(f[1]), int(f[2]), int(f[3], 8))
    top = os.path.join(tf, "SYSTEM")
    out = {}
    for d, dirs, files in os.walk(top):
        for nm in dirs + files:
            full = os.path.join(d, nm)
            rel = os.path.relpath(full, top)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, 0, 0, os.readlink(full))
                continue
            isdir = stat.S_ISDIR(st.st_mode)
            best = None
            for p in perms:
                if (rel == p[0] or rel.startswith(p[0] + "/")) and (best is None or len(p[0]) >= len(best[0])):
                    best = p
            if best:
                mode, uid, gid = (best[4] if isdir else best[1]), best[2], best[3]
            elif rel in fsc:
                uid, gid, mode = fsc[rel]
            else:
                mode, uid, gid = (0o755 if isdir or st.st_mode & 0o111 else 0o644), 0, 0
            out[rel] = ("dir" if isdir else "file", mode, uid, gid, None if isdir else sha1(full))
    return out


def actual(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for nm in dirs + files:
            full = os.path.join(d, nm)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, 0, 0, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, st.st_gid, None)
            else:
                out[rel] = ("file", st.st_mode & 0o7777, st.st_uid, st.st_gid, sha1(full))
    return out


def partitions(tf):
    p = {"boot": "BOOTABLE_IMAGES/boot.img", "modem": "RADIO/NON-HLOS.ubi"}
    md = os.path.join(tf, "MULTIFOTA")
    if os.path.isdir(md):
        for nm in sorted(os.listdir(md)):
            p[nm] = "MULTIFOTA/" + nm
    return {k: os.path.join(tf, v) for k, v in p.items()}


def materialize(tf, dev):
    root = os.path.join(dev, "root")
    shutil.copytree(os.path.join(tf, "SYSTEM"), root, symlinks=True)
    # deepest first, so a directory's own mode never blocks its children
    for rel, (kind, mode, uid, gid, _) in sorted(expected(tf).items(), reverse=True):
        if kind != "link":
            os.chmod(os.path.join(root, rel), mode)
            if AS_ROOT:
                os.lchown(os.path.join(root, rel), uid, gid)
    os.makedirs(os.path.join(dev, "parts"))
    os.makedirs(os.path.join(dev, "cache"))
    for nm, src in partitions(tf).items():
        shutil.copyfile(src, os.path.join(dev, "parts", nm))
    for p in lines(os.path.join(tf, "OTA/noota.txt")):
        p = "/" + p.strip("/")
        if os.path.lexists(os.path.join(root, p.lstrip("/"))):
            print(p)


def equal(a, b):
    if a is None or b is None:
        return a == b
    if a[0] != b[0] or a[4] != b[4]:
        return False
    return a[0] == "link" or (a[1] == b[1] and (not AS_ROOT or a[2:4] == b[2:4]))


def compare(src, dst, dev):
    want, old, got = expected(dst), expected(src), actual(os.path.join(dev, "root"))
    keep = [l.strip("/") for l in lines(os.path.join(dst, "OTA/noota.txt"))]
    bad = []
    for rel in sorted(set(want) | set(got) | set(old)):
        kept = any(rel == k or rel.startswith(k + "/") for k in keep)
        w = old.get(rel) if kept else want.get(rel)
        if not equal(got.get(rel), w):
            bad.append("%s: got %s, want %s%s" % (rel, got.get(rel), w, " (preserved)" if kept else ""))
    for nm, img in partitions(dst).items():
        p = os.path.join(dev, "parts", nm)
        if not os.path.exists(p) or sha1(p) != sha1(img):
            bad.append("partition %s differs from DST" % nm)
    for b in bad[:20]:
        print(b)
    differ = sum(1 for rel in set(want) | set(old) if want.get(rel) != old.get(rel))
    print("compared %d entries (%d differ between SRC and DST), %d partitions: %d mismatches"
          % (len(got), differ, len(partitions(dst)), len(bad)))
    return not bad


def snapshot(dev):
    pd = os.path.join(dev, "parts")
    parts = {nm: sha1(os.path.join(pd, nm)) for nm in sorted(os.listdir(pd))}
    return repr((sorted(actual(os.path.join(dev, "root")).items()), sorted(parts.items())))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "materialize" and len(sys.argv) == 4:
        materialize(sys.argv[2], sys.argv[3])
    elif cmd == "compare" and len(sys.argv) == 5:
        sys.exit(0 if compare(sys.argv[2], sys.argv[3], sys.argv[4]) else 1)
    elif cmd == "snapshot" and len(sys.argv) == 4:
        open(sys.argv[3], "w").write(snapshot(sys.argv[2]))
    else:
        sys.exit(__doc__)
