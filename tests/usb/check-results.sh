#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# After tests/usb/run.sh with guest-scenarios.sh: check on the host what the
# scenarios left in OUT (docs/usb-rig.md). Every flashed image must hold
# exactly its package (tests/data/check-image.py), and the NAND images
# flashed over the tty and through the unplug/stall/resume story must be
# byte-identical to the clean libusb flash.
# Usage: tests/usb/check-results.sh OUT   (prints one line per check)
set -u
OUT=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
fails=0
bad() { echo "MFW-RIG-FAIL: $*"; fails=$((fails + 1)); }

check() { # image storage package
	[ -f "$OUT/$1" ] || { bad "$1 was not written (its scenario failed or did not run)"; return; }
	if python3 "$SRC/tests/data/check-image.py" --expected "$OUT/$3/expected.json" \
		--image "$OUT/$1" --storage "$2" --quiet >"$OUT/check-$1.log" 2>&1; then
		echo "MFW-RIG-OK: $1 holds exactly $3"
	else
		tail -5 "$OUT/check-$1.log"
		bad "$1 does not hold $3"
	fi
}

check nand-libusb.img nand pkg-nand
for img in nand-tty.img nand-faults.img nand-halt.img; do
	[ -f "$OUT/$img" ] || { bad "$img was not written"; continue; }
	if cmp -s "$OUT/$img" "$OUT/nand-libusb.img"; then
		echo "MFW-RIG-OK: $img is identical to the clean libusb flash"
	else
		check "$img" nand pkg-nand
		bad "$img differs from nand-libusb.img"
	fi
done
check emmc-qdl.img emmc pkg-emmc
[ $fails = 0 ]
