#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# DFOTA end to end: generated targetfiles -> modemfw dfota build -> dfota check ->
# modemfw dfota apply on a materialized copy of SRC (root tree with SRC's
# metadata, one file per partition, an empty cache) -> the result equals DST
# byte for byte and in metadata (mode always, uid/gid when run as root), the
# preserved user files are SRC's, every partition is DST's. Then: applying
# again changes nothing; a module whose files differ ends with 510 and an
# untouched root.
#
# The expected metadata is computed here in Python from the targetfiles'
# lists (chmod.txt > filesystem_config.txt > executable bit), independently
# of lib/dfota/targetfiles.c, so a rule both sides got wrong cannot hide.
. "$SRCDIR/tests/integration/lib.sh"

command -v python3 >/dev/null || fail "python3 missing"
M="$MODEMFW"

T="$BUILDDIR/test-packages/targetfiles"
if [ ! -f "$T/.done" ]; then
	python3 "$SRCDIR/tests/data/gen-targetfiles.py" --out "$T" --wrong-source --zip \
		>"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log" >&2; fail "gen-targetfiles.py failed"; }
	touch "$T/.done"
fi

echo "== build and check"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/update.zip" || fail "build exit $?"
"$M" -q dfota check "$WORK/update.zip" --against "$T/src" --expect "$T/dst" || fail "check exit $?"

TREE="$SRCDIR/tests/data/tftree.py"

apply() { # dev-dir -> exit code of modemfw dfota apply, output in dev/apply.out
	rc=0
	"$M" dfota apply "$WORK/update.zip" --root "$1/root" --partitions "$1/parts" --cache "$1/cache" \
		>"$1/apply.out" 2>"$1/apply.err" || rc=$?
	return $rc
}

echo "== apply on a copy of SRC"
python3 "$TREE" materialize "$T/src" "$WORK/dev" >/dev/null || fail "materialize"
apply "$WORK/dev" || { cat "$WORK/dev/apply.err" >&2; fail "apply exit $rc"; }
grep -q '+QIND: "FOTA","END",0' "$WORK/dev/apply.out" || fail "no END,0: $(cat "$WORK/dev/apply.out")"
python3 "$TREE" compare "$T/src" "$T/dst" "$WORK/dev" || fail "result differs from DST"

echo "== apply again: nothing changes"
python3 "$TREE" snapshot "$WORK/dev" "$WORK/snap1"
apply "$WORK/dev" || { cat "$WORK/dev/apply.err" >&2; fail "second apply exit $rc"; }
grep -q '+QIND: "FOTA","END",0' "$WORK/dev/apply.out" || fail "second run: $(cat "$WORK/dev/apply.out")"
python3 "$TREE" snapshot "$WORK/dev" "$WORK/snap2"
cmp -s "$WORK/snap1" "$WORK/snap2" || fail "second apply changed the tree"
python3 "$TREE" compare "$T/src" "$T/dst" "$WORK/dev" >/dev/null || fail "second apply broke the result"

echo "== a module with other files: 510, root untouched"
python3 "$TREE" materialize "$T/wrong-src" "$WORK/wrong" >/dev/null || fail "materialize wrong"
python3 "$TREE" snapshot "$WORK/wrong" "$WORK/snapw1"
apply "$WORK/wrong" && fail "apply on the wrong source succeeded"
grep -q '+QIND: "FOTA","END",510' "$WORK/wrong/apply.out" || fail "no END,510: $(cat "$WORK/wrong/apply.out")"
python3 "$TREE" snapshot "$WORK/wrong" "$WORK/snapw2"
cmp -s "$WORK/snapw1" "$WORK/snapw2" || fail "the refused update changed the root"

echo "dfota-e2e: all passed"
