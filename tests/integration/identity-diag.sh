#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Issue 5, the DIAG story: NV items and EFS2 files are backed up over DIAG,
# a factory flash erases EFS2 (the module comes back without IMEI, NV items
# or files), and a DIAG restore puts every item and file back: a second
# backup equals the first one item by item and file by file.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
img="$WORK/nand.img"
IMEI=356938035643809

start_emu_normal "$img" --storage nand
timeout 120 "$MODEMFW" backup --diag -p "$EMU_DIAG" -o "$WORK/before" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "DIAG backup failed"; }
grep -q "$IMEI" "$WORK/before/manifest.json" || fail "backup manifest lacks the IMEI"
[ -f "$WORK/before/nv/00550.bin" ] || fail "backup lacks NV 550"
[ -f "$WORK/before/efs/nv/item_files/rfnv/00020001" ] || fail "backup lacks the calibration file"
[ "$(wc -c <"$WORK/before/efs/nv/item_files/rfnv/00020001")" -eq 3000 ] ||
	fail "calibration file has the wrong size"

# erase: switch to EDL, flash the factory manifest (erases EFS2), the module resets
expect_exit 0 "$MODEMFW" edl -p "$EMU_DIAG"
wait_emu_edl 1
timeout 120 "$MODEMFW" flash "$PKG" --factory --allow-protected EFS2 -p "$EMU_EDL" \
	--backup-dir "$WORK/backups" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "factory flash failed"; }
wait_emu_normal 2
expect_exit 3 "$MODEMFW" diag imei -p "$EMU_DIAG"
grep -q "inactive" "$WORK/out" || fail "missing IMEI not reported as inactive"
expect_exit 3 "$MODEMFW" diag efs-get /nv/item_files/rfnv/00020001 "$WORK/cal" -p "$EMU_DIAG"

# without the flag the IMEI stays out; with it everything comes back and is verified
timeout 120 "$MODEMFW" restore --diag "$WORK/before" -p "$EMU_DIAG" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "DIAG restore without the IMEI failed"; }
grep -q "550 (IMEI) was not written" "$WORK/out" || { cat "$WORK/out"; fail "IMEI skip not reported"; }
expect_exit 3 "$MODEMFW" diag imei -p "$EMU_DIAG"
timeout 120 "$MODEMFW" restore --diag "$WORK/before" -p "$EMU_DIAG" --i-own-this-imei \
	>"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "DIAG restore failed"; }
"$MODEMFW" diag imei -p "$EMU_DIAG" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "IMEI not back"; }
grep -q "$IMEI" "$WORK/out" || { cat "$WORK/out"; fail "restored IMEI differs"; }

# a second backup holds the same NV items and the same files
timeout 120 "$MODEMFW" backup --diag -p "$EMU_DIAG" -o "$WORK/after" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "second DIAG backup failed"; }
diff -r "$WORK/before/nv" "$WORK/after/nv" || fail "NV items differ after the restore"
diff -r "$WORK/before/efs" "$WORK/after/efs" || fail "EFS files differ after the restore"

# and it is persistent: the module keeps it over a power cycle
stop_emu
start_emu_normal "$img" --storage nand
"$MODEMFW" at -p "$EMU_AT" AT+GSN >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "AT+GSN after restart"; }
grep -q "$IMEI" "$WORK/out" || { cat "$WORK/out"; fail "IMEI lost over a power cycle"; }
stop_emu
echo "ok: NV items, EFS files and IMEI $IMEI restored over DIAG after a factory flash"
