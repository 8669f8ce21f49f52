#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# modemfw delta against Debian's bsdiff 4.3, both ways, byte-exact:
#   bsdiff OLD NEW P;          modemfw delta apply OLD P OUT;  cmp OUT NEW
#   modemfw delta diff OLD NEW P;  bspatch OLD OUT P;          cmp OUT NEW
# on empty files, identical files, files with no common byte, unrelated
# files, an edited binary and two real ELF programs; then the CLI's answers
# to a corrupt patch (exit 3, no output file left behind).
. "$SRCDIR/tests/integration/lib.sh"

command -v bsdiff >/dev/null && command -v bspatch >/dev/null ||
	fail "bsdiff/bspatch missing: scripts/install-deps.sh installs them"
command -v python3 >/dev/null || fail "python3 missing"

python3 - "$WORK" "$SRCDIR/tests/data" <<'PY'
import os, random, sys
sys.path.insert(0, sys.argv[2])
from edits import banded, edited
w = sys.argv[1]
r = random.Random(1234)
def put(name, data):
    open(os.path.join(w, name), 'wb').write(bytes(data))
base = banded(r, 1 << 20, 64, 4096, 5, 40)
edit = edited(r, base, 1000, 4, 7, 50, 200, 150, 64, 1) + base[:50000]
put('empty', b'')
put('small', bytes(r.randrange(256) for _ in range(3000)))
put('base', base)
put('edited', edit)
put('zeros', bytes(8192))
put('ones', b'\xff' * 6000)
put('unrelated', bytes(r.randrange(256) for _ in range(200000)))
PY

n=0
case_pair() { # name old new
	name=$1 old=$2 new=$3
	n=$((n + 1))
	if [ -s "$old" ] && [ -s "$new" ]; then
		# Debian's bsdiff mmap()s its inputs and cannot read empty files
		bsdiff "$old" "$new" "$WORK/$name.bsdiff" || fail "$name: bsdiff failed"
		"$MODEMFW" -q delta apply "$old" "$WORK/$name.bsdiff" "$WORK/$name.out1" ||
			fail "$name: modemfw cannot apply bsdiff's patch"
		cmp "$WORK/$name.out1" "$new" || fail "$name: modemfw applied bsdiff's patch wrongly"
	fi
	"$MODEMFW" -q delta diff "$old" "$new" "$WORK/$name.mfw" || fail "$name: modemfw diff failed"
	[ "$(head -c 8 "$WORK/$name.mfw")" = BSDIFF40 ] || fail "$name: patch is not BSDIFF40"
	bspatch "$old" "$WORK/$name.out2" "$WORK/$name.mfw" || fail "$name: bspatch rejects modemfw's patch"
	cmp "$WORK/$name.out2" "$new" || fail "$name: bspatch output differs"
	"$MODEMFW" -q delta apply "$old" "$WORK/$name.mfw" "$WORK/$name.out3" || fail "$name: self apply"
	cmp "$WORK/$name.out3" "$new" || fail "$name: self apply differs"
}

W=$WORK
case_pair empty-empty "$W/empty" "$W/empty"
case_pair empty-old "$W/empty" "$W/small"
case_pair empty-new "$W/small" "$W/empty"
case_pair identical "$W/base" "$W/base"
case_pair disjoint "$W/zeros" "$W/ones"
case_pair unrelated "$W/unrelated" "$W/base"
case_pair edited "$W/base" "$W/edited"
case_pair reverse "$W/edited" "$W/base"
for a in /bin/ls /usr/bin/ls; do [ -f "$a" ] && { LS=$a; break; }; done
for b in /bin/cp /usr/bin/cp; do [ -f "$b" ] && { CP=$b; break; }; done
[ -n "${LS:-}" ] && [ -n "${CP:-}" ] && case_pair elf "$LS" "$CP"

# the edited case must really be a delta
psize=$(wc -c <"$W/edited.mfw")
[ "$psize" -lt 200000 ] || fail "edited: patch of $psize bytes for a 1 MiB file with 5 % changes"

# --best: every bzip2 block size everywhere; bspatch applies it, and it is no larger
"$MODEMFW" -q delta diff --best "$W/base" "$W/edited" "$W/edited.best" || fail "edited: diff --best failed"
bspatch "$W/base" "$W/edited.out4" "$W/edited.best" || fail "edited: bspatch rejects the --best patch"
cmp "$W/edited.out4" "$W/edited" || fail "edited: bspatch output of the --best patch differs"
bsize=$(wc -c <"$W/edited.best")
[ "$bsize" -le "$psize" ] || fail "edited: --best patch $bsize bytes, default $psize"

# a truncated patch: exit 3 (bad input), nothing left at the target
head -c 100 "$W/edited.mfw" >"$W/trunc.patch"
expect_exit 3 "$MODEMFW" -q delta apply "$W/base" "$W/trunc.patch" "$W/never"
grep -q "run past the patch end" "$WORK/out" || fail "truncated patch: message was: $(cat "$WORK/out")"
[ ! -e "$W/never" ] || fail "truncated patch left an output file"
ls "$W" | grep -q 'never\.part' && fail "truncated patch left a temporary file"

# usage errors
expect_exit 2 "$MODEMFW" delta diff only-two args

echo "delta interop: $n pairs both ways OK"
