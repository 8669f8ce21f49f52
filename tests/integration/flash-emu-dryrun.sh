#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# -p emu: the whole flash against an in-process virtual modem, with --json
# progress lines and a summary object; a zip package works like a directory.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
"$MODEMFW" --json flash "$PKG" -p emu >"$WORK/out" 2>"$WORK/err" ||
	{ cat "$WORK/err" "$WORK/out"; fail "dry run failed"; }
grep -q '"event":"progress"' "$WORK/out" || fail "no JSON progress"
grep -q '"event":"summary"' "$WORK/out" || fail "no JSON summary"
python3 - "$WORK/out" <<'PY' || fail "JSON lines invalid"
import json, sys
last = None
for line in open(sys.argv[1]):
    last = json.loads(line)
assert last["event"] == "summary", last
assert last["programs"] >= 8 and last["verified"] == last["programs"], last
PY
(cd "$PKG" && zip -qr "$WORK/pkg.zip" . -x .done)
"$MODEMFW" flash "$WORK/pkg.zip" -p emu >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "zip dry run failed"; }
echo "ok: dry run (dir, zip, json)"
