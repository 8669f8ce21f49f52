#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Lay out a targetfiles tree as a module for the updater:
DEV/root (SYSTEM/ with the permissions of docs/dfota-format.md: chmod.txt,
then META/filesystem_config.txt, then the executable bit -> 755/644, uid/gid
0), DEV/parts/<name> (boot, modem, MULTIFOTA/*), DEV/cache (empty).
Prints the preserved paths (OTA/noota.txt) as absolute paths, one a line."""
import os
import shutil
import stat
import sys


def lines(p):
    if not os.path.exists(p):
        return []
    out = []
    for line in open(p):
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def main(tf, dev):
    root = os.path.join(dev, "root")
    shutil.copytree(os.path.join(tf, "SYSTEM"), root, symlinks=True)
    perms = []
    for line in lines(os.path.join(tf, "OTA/chmod.txt")):
        f = line.split()
        perms.append((f[0].strip("/"), int(f[1], 8), int(f[2]), int(f[3]),
                      int(f[4], 8) if len(f) > 4 else 0o755))
    fsc = {}
    for line in lines(os.path.join(tf, "META/filesystem_config.txt")):
        f = line.split()
        fsc[f[0].strip("/")] = (int(f[1]), int(f[2]), int(f[3], 8))
    todo = []
    for dirpath, dirs, files in os.walk(root):
        for nm in dirs + files:
            todo.append(os.path.join(dirpath, nm))
    for full in sorted(todo, reverse=True):
        rel = os.path.relpath(full, root)
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        best = None
        for r in perms:
            if (rel == r[0] or rel.startswith(r[0] + "/")) and (best is None or len(r[0]) >= len(best[0])):
                best = r
        if best:
            mode, uid, gid = (best[4] if is_dir else best[1]), best[2], best[3]
        elif rel in fsc:
            uid, gid, mode = fsc[rel]
        else:
            mode = 0o755 if is_dir or st.st_mode & 0o111 else 0o644
            uid = gid = 0
        os.chmod(full, mode)
        if os.geteuid() == 0:
            os.lchown(full, uid, gid)
    parts = os.path.join(dev, "parts")
    os.makedirs(parts)
    os.makedirs(os.path.join(dev, "cache"))
    shutil.copyfile(os.path.join(tf, "BOOTABLE_IMAGES/boot.img"), os.path.join(parts, "boot"))
    shutil.copyfile(os.path.join(tf, "RADIO/NON-HLOS.ubi"), os.path.join(parts, "modem"))
    md = os.path.join(tf, "MULTIFOTA")
    if os.path.isdir(md):
        for nm in sorted(os.listdir(md)):
            shutil.copyfile(os.path.join(md, nm), os.path.join(parts, nm))
    for p in lines(os.path.join(tf, "OTA/noota.txt")):
        p = "/" + p.strip("/")
        if os.path.lexists(os.path.join(root, p.lstrip("/"))):
            print(p)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
