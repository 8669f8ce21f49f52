#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The MFWZ container through the CLI: diff --format mfwz, apply detects it
# by its magic; an apply killed (SIGKILL, like a power cut) after 7
# segments leaves NEW.part and its state, and the rerun continues at
# segment 7 and produces the exact file; --restart starts over; a wrong
# old file and a damaged segment are refused with exit 3, the segment
# named. BSDIFF40 stays the default format.
. "$SRCDIR/tests/integration/lib.sh"

command -v python3 >/dev/null || fail "python3 missing"
python3 - "$WORK" "$SRCDIR/tests/data" <<'PY'
import os, random, sys
sys.path.insert(0, sys.argv[2])
from edits import banded, edited
w = sys.argv[1]
r = random.Random(77)
old = banded(r, 2_000_000, 90, 8192, 3, 50)
new = edited(r, old, 2000, 3, 5, 60, 400, 300, 80, 3)
open(os.path.join(w, 'old'), 'wb').write(old)
open(os.path.join(w, 'new'), 'wb').write(bytes(new))
PY
W=$WORK
SEG=65536

"$MODEMFW" -q delta diff "$W/old" "$W/new" "$W/p.bsdiff" || fail "default diff failed"
[ "$(head -c 8 "$W/p.bsdiff")" = BSDIFF40 ] || fail "the default format is not BSDIFF40"
"$MODEMFW" -q delta diff "$W/old" "$W/new" "$W/p.mfwz" --format mfwz --segment-size $SEG ||
	fail "mfwz diff failed"
[ "$(head -c 6 "$W/p.mfwz")" = MFWDZ1 ] || fail "mfwz patch lacks its magic"
nseg=$(python3 -c "import os; print((os.path.getsize('$W/new') + $SEG - 1) // $SEG)")

# a plain apply, reported as JSON
"$MODEMFW" --json delta apply "$W/old" "$W/p.mfwz" "$W/out0" >"$W/json" || fail "mfwz apply failed"
cmp "$W/out0" "$W/new" || fail "mfwz apply output differs"
grep -q "\"segments\":$nseg,\"resumed_from\":0,\"segments_applied\":$nseg" "$W/json" ||
	fail "apply JSON: $(cat "$W/json")"

# killed after 7 segments: no NEW, the part holds exactly 7 segments, the state is there
expect_exit 137 env MODEMFW_FAULT_KILL_SEGMENT=7 "$MODEMFW" -q delta apply "$W/old" "$W/p.mfwz" "$W/out1"
[ ! -e "$W/out1" ] || fail "a killed apply left NEW"
[ -f "$W/out1.part.state" ] || fail "no state after the kill"
[ "$(wc -c <"$W/out1.part")" = $((7 * SEG)) ] || fail "part holds $(wc -c <"$W/out1.part") bytes, want $((7 * SEG))"

# the rerun continues at segment 7
"$MODEMFW" -v delta apply "$W/old" "$W/p.mfwz" "$W/out1" 2>"$W/err1" || fail "resume failed: $(cat "$W/err1")"
grep -q "resumed from segment 7, $((nseg - 7)) decoded" "$W/err1" || fail "resume: $(grep segments "$W/err1")"
cmp "$W/out1" "$W/new" || fail "resumed output differs"
[ ! -e "$W/out1.part" ] && [ ! -e "$W/out1.part.state" ] || fail "part or state left after success"

# --restart ignores the state
expect_exit 137 env MODEMFW_FAULT_KILL_SEGMENT=3 "$MODEMFW" -q delta apply "$W/old" "$W/p.mfwz" "$W/out2"
[ -f "$W/out2.part.state" ] || fail "no state after the second kill"
"$MODEMFW" -v delta apply --restart "$W/old" "$W/p.mfwz" "$W/out2" 2>"$W/err2" || fail "restart failed"
grep -q "resumed from segment 0, $nseg decoded" "$W/err2" || fail "restart: $(grep segments "$W/err2")"
cmp "$W/out2" "$W/new" || fail "restarted output differs"

# a wrong old file: exit 3, said plainly, nothing left behind
cp "$W/old" "$W/old2"
printf 'X' | dd of="$W/old2" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect_exit 3 "$MODEMFW" -q delta apply "$W/old2" "$W/p.mfwz" "$W/out3"
grep -q "wrong old file" "$WORK/out" || fail "wrong old: $(cat "$WORK/out")"
[ ! -e "$W/out3" ] && [ ! -e "$W/out3.part" ] || fail "wrong old left a file"

# a byte of segment 4's frame damaged: exit 3, segment 4 named
off=$(python3 -c "
import struct
p = open('$W/p.mfwz', 'rb').read()
idx = struct.unpack_from('<Q', p, 48)[0]
a = struct.unpack_from('<Q', p, idx + 4 * 64)[0]
b = struct.unpack_from('<Q', p, idx + 4 * 64 + 8)[0]
print(a + b // 2)")
cp "$W/p.mfwz" "$W/p.bad"
printf '\377' | dd of="$W/p.bad" bs=1 seek="$off" conv=notrunc 2>/dev/null
expect_exit 3 "$MODEMFW" -q delta apply "$W/old" "$W/p.bad" "$W/out4"
grep -q "1 damaged segment: 4 (new bytes $((4 * SEG))\.\." "$WORK/out" || fail "damaged segment: $(cat "$WORK/out")"
[ ! -e "$W/out4" ] || fail "damaged patch left NEW"

expect_exit 2 "$MODEMFW" delta diff "$W/old" "$W/new" "$W/p.x" --format zip

echo "delta resume: $nseg segments, killed after 7, resumed at 7; refusals OK"
