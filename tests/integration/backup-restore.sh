#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Issue 5 over EDL: `modemfw backup` proves and stores efs2 + MIBIB; the
# factory manifest (which erases efs2) is refused without --allow-protected
# and accepted with it plus the automatic verified backup; efs2 is then
# erased; `modemfw restore` brings back the exact bytes; the backup is
# refused on another device unless --force; a damaged backup is refused
# before anything is written.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
img="$WORK/nand.img"
start_emu "$img" tcp:127.0.0.1:0 --storage nand --serial 0x11112222

"$MODEMFW" backup -p "$EMU_SPEC" --package "$PKG" -o "$WORK/bk" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "backup failed"; }
grep -q "EFS2" "$WORK/out" || { cat "$WORK/out"; fail "efs2 not backed up"; }
grep -q "part EFS2 0 1280 5632 EFS2.bin" "$WORK/bk/manifest.txt" || fail "manifest lacks efs2"
python3 -c "import json,sys; m=json.load(open(sys.argv[1])); assert m['verified']=='digest', m" \
	"$WORK/bk/manifest.json" || fail "manifest.json invalid"
# the image bytes equal the device's efs2 region (sectors 1280.., 4 KiB pages)
python3 - "$img" "$WORK/bk/EFS2.bin" <<'PY' || fail "backup bytes differ from the device"
import sys
img = open(sys.argv[1], "rb"); img.seek(1280 * 4096)
assert img.read(5632 * 4096) == open(sys.argv[2], "rb").read()
PY

# the factory manifest erases efs2: refused without the flag, nothing changes
expect_exit 6 "$MODEMFW" flash "$PKG" --factory -p "$EMU_SPEC"
grep -qi "protected" "$WORK/out" || fail "refusal does not say why"
# with the flag: the flash backs up first, then erases efs2
"$MODEMFW" flash "$PKG" --factory --allow-protected EFS2 -p "$EMU_SPEC" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "factory flash with --allow-protected failed"; }
grep -q "backup: " "$WORK/out" || { cat "$WORK/out"; fail "no automatic backup"; }
python3 - "$img" <<'PY' || fail "efs2 was not erased by the factory manifest"
import sys
img = open(sys.argv[1], "rb"); img.seek(1280 * 4096)
assert img.read(5632 * 4096) == b"\xff" * (5632 * 4096)
PY

# restore brings the exact bytes back
"$MODEMFW" restore "$WORK/bk" -p "$EMU_SPEC" --package "$PKG" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "restore failed"; }
python3 - "$img" "$WORK/bk/EFS2.bin" <<'PY' || fail "restored efs2 differs from the backup"
import sys
img = open(sys.argv[1], "rb"); img.seek(1280 * 4096)
assert img.read(5632 * 4096) == open(sys.argv[2], "rb").read()
PY
stop_emu

# another device (other serial): refused; --force accepted
start_emu "$WORK/other.img" tcp:127.0.0.1:0 --storage nand --serial 0x33334444
expect_exit 6 "$MODEMFW" restore "$WORK/bk" -p "$EMU_SPEC" --package "$PKG"
grep -q "belongs to device 11112222" "$WORK/out" || { cat "$WORK/out"; fail "refusal unclear"; }
# a damaged backup is refused before the device is touched
cp -r "$WORK/bk" "$WORK/bad"
printf 'X' | dd of="$WORK/bad/EFS2.bin" bs=1 seek=10 conv=notrunc 2>/dev/null
expect_exit 3 "$MODEMFW" restore "$WORK/bad" -p "$EMU_SPEC" --package "$PKG" --force
grep -q "damaged" "$WORK/out" || { cat "$WORK/out"; fail "damage not named"; }
"$MODEMFW" restore "$WORK/bk" -p "$EMU_SPEC" --package "$PKG" --force >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "restore --force failed"; }
stop_emu
echo "ok: EDL backup, protected refusal, factory erase with backup, restore, device check"
