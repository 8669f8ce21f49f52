#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Issue 7: `modemfw flash PKG -p diag:<DIAG port of a module in normal mode>`
# switches it to EDL (DIAG 4B 65 01 00), finds the boot ROM and flashes it;
# the module then resets into normal mode with its identity untouched.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
img="$WORK/nand.img"
IMEI=356938035643809

start_emu_normal "$img" --storage nand --listen diag
snapshot "$img" "$WORK/before.img"
timeout 120 "$MODEMFW" flash "$PKG" -p "diag:$EMU_DIAG" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "flash through the DIAG port failed"; }
grep -q "switched to EDL" "$WORK/emu.log" || fail "the module was not switched to EDL"
wait_emu_edl 1
grep -q "^flashed " "$WORK/out" || { cat "$WORK/out"; fail "no flash summary"; }
# the flash ends with a reset: the firmware boots again with its IMEI
wait_emu_normal 2
"$MODEMFW" diag imei -p "$EMU_DIAG" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "IMEI after flash"; }
grep -q "$IMEI" "$WORK/out" || { cat "$WORK/out"; fail "IMEI changed by an update flash"; }
stop_emu
check_image "$PKG/expected.json" "$img" nand "$WORK/before.img"
echo "ok: flashed a module in normal mode through its DIAG port"
