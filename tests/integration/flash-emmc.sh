#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Flash the sample eMMC/GPT package (sparse system image, DISK patches)
# into the virtual modem over TCP and pty; check bytes, GPT and untouched
# protected partitions.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg emmc small)

for listen in tcp:127.0.0.1:0 "pty:$WORK/ttyEDL"; do
	img="$WORK/emmc.img"
	rm -rf "$img" "$img".*
	start_emu "$img" "$listen" --storage emmc
	snapshot "$img" "$WORK/before.img"
	"$MODEMFW" flash "$PKG" -p "$EMU_SPEC" >"$WORK/flash.log" 2>&1 ||
		{ cat "$WORK/flash.log"; fail "flash over $listen failed"; }
	stop_emu
	check_image "$PKG/expected.json" "$img" emmc "$WORK/before.img"
	echo "ok: eMMC flash over $listen"
done
