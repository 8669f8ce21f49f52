#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Bad input gets a clear error and changes nothing:
#  - a corrupt image fails md5.txt before the device is touched (exit 3)
#  - the factory manifest that erases efs2 is refused (exit 6)
#  - a package for another NAND geometry is refused before any erase (exit 6)
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
img="$WORK/nand.img"

start_emu "$img" tcp:127.0.0.1:0 --storage nand
snapshot "$img" "$WORK/before.img"

cp -r "$PKG" "$WORK/bad"
printf 'X' | dd of="$WORK/bad/update/tz.mbn" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_exit 3 "$MODEMFW" flash "$WORK/bad" -p "$EMU_SPEC"
grep -q "tz.mbn" "$WORK/out" || fail "md5 error does not name the file"

expect_exit 6 "$MODEMFW" flash "$PKG" -p "$EMU_SPEC" --factory
grep -qi "protected partition 'EFS2'" "$WORK/out" || grep -qi "protected" "$WORK/out" ||
	fail "factory refusal does not say why"
stop_emu
cmp -s "$img" "$WORK/before.img" || fail "a refused flash changed the image"

# geometry: a p4K_b256K package against a device with 2 KiB pages
rm -f "$WORK/small.img"
start_emu "$WORK/small.img" tcp:127.0.0.1:0 --storage nand --page-size 2048 --block-size 131072
snapshot "$WORK/small.img" "$WORK/small-before.img"
expect_exit 6 "$MODEMFW" flash "$PKG" -p "$EMU_SPEC"
grep -q "nothing was erased" "$WORK/out" || { cat "$WORK/out"; fail "geometry refusal unclear"; }
stop_emu
cmp -s "$WORK/small.img" "$WORK/small-before.img" || fail "geometry refusal changed the image"
echo "ok: refusals"
