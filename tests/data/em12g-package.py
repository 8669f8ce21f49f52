#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
"""Build a test package around the REAL Quectel EM12-G manifests.

  em12g-package.py --out DIR [--shared DIR] [--seed N] [--zip FILE]

Copies rawprogram_nand_p4K_b256K_update.xml and patch_p4K_b256K.xml from
<shared>/data/real/quectel-em12g/ unchanged into DIR/update/firehose/ and
generates every file they reference (our own bytes, no vendor binaries),
sized to fit the canonical NAND partitions, plus a fake programmer
prog_nand_firehose_sdx20.mbn, md5.txt and expected.json.

<shared> is --shared, else $SRCDIR/../shared, else <repo>/../shared.
"""

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pkglib as L  # noqa: E402

_spec = importlib.util.spec_from_file_location("gen_package",
                                               os.path.join(HERE, "gen-package.py"))
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)

KiB = 1024
MiB = 1024 * 1024
RAWPROGRAM = "rawprogram_nand_p4K_b256K_update.xml"
PATCH = "patch_p4K_b256K.xml"
PROGRAMMER = "prog_nand_firehose_sdx20.mbn"


def find_manifests(shared):
    cands = []
    if shared:
        cands.append(shared)
    if os.environ.get("SRCDIR"):
        cands.append(os.path.join(os.environ["SRCDIR"], "..", "shared"))
    cands.append(os.path.join(HERE, "..", "..", "..", "shared"))
    for c in cands:
        d = os.path.join(c, "data", "real", "quectel-em12g")
        if os.path.isfile(os.path.join(d, RAWPROGRAM)) and \
                os.path.isfile(os.path.join(d, PATCH)):
            return d
    sys.exit("error: EM12-G manifests not found (looked for data/real/quectel-em12g/%s "
             "under %s); pass --shared DIR" % (RAWPROGRAM, ", ".join(cands)))


def make_file(name, label, outpath, seed, tmp):
    """Generate one referenced file by the shape its name promises."""
    part = L.nand_part(label)
    base = os.path.basename(name.replace("\\", "/"))
    if base.startswith("partition_complete_"):
        L.write_file(outpath, L.mibib_image(None))
    elif base.endswith(".ubi"):
        vol = base[:-4].replace("sdx20-", "")
        if base == "NON-HLOS.ubi":
            vols = [{"name": "modem", "tree": L.modem_tree(seed, "em12g-modem", 256 * KiB)}]
        elif vol == "rootfs":
            vols = [{"name": "rootfs", "autoresize": True,
                     "tree": L.rootfs_tree(seed, "em12g-rootfs", 256 * KiB)}]
        else:
            # empty volume: UBIFS formats it on first mount
            vols = [{"name": vol, "tree": None, "size": 2 * MiB, "autoresize": True}]
        L.build_ubi(outpath, vols, seed, "em12g-" + base, tmp, part["blocks"])
    elif base.endswith("boot.img"):
        L.write_file(outpath, L.android_boot_img(seed, base[:-4], 768 * KiB,
                                                 cmdline="console=ttyMSM0,115200 "
                                                 "androidboot.hardware=qcom"))
    else:
        sizes = {"sbl1.mbn": 256 * KiB, "tz.mbn": 512 * KiB, "rpm.mbn": 160 * KiB,
                 "appsboot.mbn": 384 * KiB}
        L.write_file(outpath, L.fake_elf32_arm(
            seed, "em12g-" + base, sizes.get(base, 128 * KiB),
            notice="modemfw test %s \u2014 not vendor firmware" % base))
    size = os.path.getsize(outpath)
    if size > part["blocks"] * L.NAND_BLOCK:
        sys.exit("error: %s (%d bytes) does not fit %s" % (name, size, label))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shared", help="the shared directory (holds data/real/)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--zip")
    a = ap.parse_args()
    L.need_mtd_utils()
    src = find_manifests(a.shared)

    if os.path.exists(a.out):
        shutil.rmtree(a.out)
    fh = os.path.join(a.out, "update", "firehose")
    os.makedirs(fh)
    for nm in (RAWPROGRAM, PATCH):
        shutil.copyfile(os.path.join(src, nm), os.path.join(fh, nm))

    root = ET.parse(os.path.join(fh, RAWPROGRAM)).getroot()
    elements = []
    made = set()
    tmp = tempfile.mkdtemp(prefix="modemfw-em12g-")
    try:
        for el in root:
            if el.tag not in ("program", "erase"):
                continue
            label = el.get("label")
            part = L.nand_part(label)
            if int(el.get("start_sector")) != part["start_sector"] or \
                    int(el.get("num_partition_sectors")) != part["num_sectors"]:
                sys.exit("error: %s %s does not match the canonical layout"
                         % (el.tag, label))
            fn = el.get("filename") if el.tag == "program" else None
            elements.append((el.tag, label, fn))
            if fn:
                rel = L.xml_path_to_rel(fn, "update/firehose")
                if rel not in made:
                    make_file(fn, label, os.path.join(a.out, rel), a.seed, tmp)
                    made.add(rel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    L.write_file(os.path.join(fh, PROGRAMMER), L.fake_elf32_arm(a.seed, "prog_nand_firehose_sdx20",
                                                                320 * KiB))

    patches = [dict(p.attrib) for p in ET.parse(os.path.join(fh, PATCH)).getroot()
               if p.tag == "patch"]
    L.write_file(os.path.join(a.out, "contents.xml"), G.contents_xml(
        "SDX20.LE.1.0", "SDX20", "nand", "EM12GPAR01A99M4G_MODEMFW_%d" % a.seed,
        [("all", sorted("update/" + os.path.basename(r) if not r.startswith("update/firehose")
                        else r for r in made))]))
    exp = G.expected_common(a.out, "nand", "em12g", a.seed,
                            "update/firehose/" + RAWPROGRAM, None,
                            "update/firehose/" + PATCH, "update/firehose/" + PROGRAMMER,
                            elements, "update/firehose", L.NAND_PAGE, patches,
                            L.nand_partitions(),
                            extra={"pages_per_block": L.NAND_PAGES_PER_BLOCK,
                                   "block_size": L.NAND_BLOCK,
                                   "num_disk_blocks": L.NAND_BLOCKS,
                                   "num_disk_sectors": L.NAND_SECTORS,
                                   "pad_byte": 255,
                                   "manifests_from": "shared/data/real/quectel-em12g"})
    L.write_json(os.path.join(a.out, "expected.json"), exp)
    L.write_md5(a.out)
    if a.zip:
        L.write_zip(a.out, a.zip)
    total = sum(f["size"] for f in exp["files"].values())
    print("%s: EM12-G package (real manifests, seed %d): %d files, %.1f MiB"
          % (a.out, a.seed, len(exp["files"]), total / MiB))


if __name__ == "__main__":
    main()
