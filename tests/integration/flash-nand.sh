#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Flash the sample NAND package into the virtual modem over TCP and over a
# pty; after the emulator exits (SIGTERM) the image holds exactly the
# package's images, erased pages elsewhere in erased partitions, and efs2
# untouched.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)

for listen in tcp:127.0.0.1:0 "pty:$WORK/ttyEDL"; do
	img="$WORK/nand.img"
	rm -rf "$img" "$img".*
	start_emu "$img" "$listen" --storage nand
	snapshot "$img" "$WORK/before.img"
	"$MODEMFW" flash "$PKG" -p "$EMU_SPEC" >"$WORK/flash.log" 2>&1 ||
		{ cat "$WORK/flash.log"; fail "flash over $listen failed"; }
	grep -q "rawprogram_nand_p4K_b256K_update.xml" "$WORK/flash.log" ||
		fail "the manifest choice was not reported"
	grep -q "verified" "$WORK/flash.log" || fail "no verification summary"
	stop_emu
	check_image "$PKG/expected.json" "$img" nand "$WORK/before.img"
	echo "ok: NAND flash over $listen"
done
