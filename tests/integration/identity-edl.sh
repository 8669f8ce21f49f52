#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Issue 5, the EDL story ("erase modemst"): a running module has its IMEI;
# it is switched to EDL over DIAG and flashed with the factory manifest that
# erases EFS2 (the flash backs it up first); back in normal mode the IMEI is
# gone (NV 550 inactive); an EDL restore of that backup brings the exact
# efs2 bytes and the IMEI back.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
img="$WORK/nand.img"
IMEI=356938035643809
# p4K_b256K factory MIBIB: 0:EFS2 starts at page 1280
EFS2_OFF=$((1280 * 4096))

efs2_equals() { # image backup-file -> exit 0 when the efs2 partition holds exactly the file
	python3 - "$1" "$2" "$EFS2_OFF" <<'PY'
import sys
want = open(sys.argv[2], "rb").read()
with open(sys.argv[1], "rb") as f:
    f.seek(int(sys.argv[3]))
    have = f.read(len(want))
sys.exit(0 if have == want and len(want) > 0 else 1)
PY
}

start_emu_normal "$img" --storage nand
"$MODEMFW" diag imei -p "$EMU_DIAG" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "diag imei failed"; }
grep -q "$IMEI" "$WORK/out" || { cat "$WORK/out"; fail "factory IMEI not shown"; }

# switch to EDL over DIAG; the DIAG and AT ports go away, the boot ROM appears
expect_exit 0 "$MODEMFW" edl -p "$EMU_DIAG"
wait_emu_edl 1
expect_exit 4 "$MODEMFW" diag imei -p "$EMU_DIAG" --timeout 2000
grep -q "connection refused" "$WORK/out" || fail "the DIAG port is still there in EDL"

# the factory manifest erases EFS2; the flash backs it up first and resets the module
timeout 120 "$MODEMFW" flash "$PKG" --factory --allow-protected EFS2 -p "$EMU_EDL" \
	--backup-dir "$WORK/backups" >"$WORK/flash.out" 2>&1 || { cat "$WORK/flash.out"; fail "factory flash failed"; }
BK=$(sed -n 's/^ *backup: *//p' "$WORK/flash.out" | tail -1)
[ -n "$BK" ] && [ -f "$BK/EFS2.bin" ] || { cat "$WORK/flash.out"; fail "no EFS2 backup named in the flash summary"; }
efs2_equals "$img" "$BK/EFS2.bin" && fail "the factory flash did not erase EFS2"

# after the flash's reset the firmware boots: no identity
wait_emu_normal 2
expect_exit 3 "$MODEMFW" diag imei -p "$EMU_DIAG"
grep -q "inactive" "$WORK/out" || fail "missing IMEI not reported as inactive"
grep -q "$IMEI" "$WORK/out" && fail "an IMEI is still shown after the erase"
expect_exit 1 "$MODEMFW" at -p "$EMU_AT" AT+GSN

# EDL restore of the flash's own backup, then the module resets into normal mode
expect_exit 0 "$MODEMFW" edl -p "$EMU_DIAG"
wait_emu_edl 2
timeout 120 "$MODEMFW" restore "$BK" -p "$EMU_EDL" --package "$PKG" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "EDL restore failed"; }
wait_emu_normal 3
"$MODEMFW" diag imei -p "$EMU_DIAG" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "IMEI not back after the restore"; }
grep -q "$IMEI" "$WORK/out" || { cat "$WORK/out"; fail "restored IMEI differs"; }
"$MODEMFW" at -p "$EMU_AT" AT+GSN >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "AT+GSN after the restore"; }
grep -q "$IMEI" "$WORK/out" || { cat "$WORK/out"; fail "AT+GSN shows another IMEI"; }
stop_emu
efs2_equals "$img" "$BK/EFS2.bin" || fail "efs2 bytes differ from the backup's EFS2.bin"
echo "ok: IMEI $IMEI survived a factory flash through the EDL backup and restore"
