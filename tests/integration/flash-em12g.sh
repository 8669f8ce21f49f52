#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The REAL EM12-G manifests (shared/data/real) with generated images:
# erase-first/SBL-last order, file-targeted MIBIB patches, uncovered ranges
# (efs2) untouched. Then the same package in document order (what qdl does)
# must NOT produce a correct image: TZ and MIBIB end up erased.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg em12g)
img="$WORK/em12g.img"

start_emu "$img" tcp:127.0.0.1:0 --storage nand
snapshot "$img" "$WORK/before.img"
"$MODEMFW" flash "$PKG" -p "$EMU_SPEC" >"$WORK/flash.log" 2>&1 ||
	{ cat "$WORK/flash.log"; fail "flash of the EM12-G manifests failed"; }
stop_emu
check_image "$PKG/expected.json" "$img" nand "$WORK/before.img"
echo "ok: EM12-G manifests, safe order"

rm -rf "$img" "$img".*
start_emu "$img" tcp:127.0.0.1:0 --storage nand
snapshot "$img" "$WORK/before.img"
rc=0
"$MODEMFW" flash "$PKG" -p "$EMU_SPEC" --order document >"$WORK/flash.log" 2>&1 || rc=$?
stop_emu
if [ $rc -eq 0 ]; then
	# it ran to the end: the image must be wrong (TZ/MIBIB erased after being written)
	if python3 "$SRCDIR/tests/data/check-image.py" --expected "$PKG/expected.json" --image "$img" \
		--storage nand --before "$WORK/before.img" >"$WORK/check.log" 2>&1; then
		fail "document order produced a correct image: the test cannot tell orders apart"
	fi
	grep -qi "tz\|mibib" "$WORK/check.log" || { cat "$WORK/check.log"; fail "expected TZ/MIBIB damage"; }
	echo "ok: document order (qdl behaviour) leaves TZ/MIBIB erased"
else
	# the device refused to program pages that were never erased: also a failed flash
	grep -qi "not erased\|refused" "$WORK/flash.log" || { cat "$WORK/flash.log"; fail "unexpected error"; }
	echo "ok: document order (qdl behaviour) fails: programming over unerased pages"
fi
