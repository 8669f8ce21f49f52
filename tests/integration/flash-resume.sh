#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Issue 4, "never hangs, always resumes":
#  1. the device stops reading mid-partition: the flash exits non-zero within
#     the stall timeout + 5 s and names the partition and the byte offset;
#     the same command against the restarted device (same image, no fault)
#     completes, the journal visibly skipping finished partitions;
#  2. the device disconnects mid-partition and comes back in EDL after a
#     delay (power cycle): one run recovers without user action;
#  3. an identical re-flash skips everything it can prove unchanged.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand demo)
img="$WORK/nand.img"
STALL=3

# --- 1. stall, then resume
start_emu "$img" tcp:127.0.0.1:0 --storage nand --fault stall@bytes=10000000
snapshot "$img" "$WORK/before.img"
t0=$(date +%s)
rc=0
timeout 60 "$MODEMFW" flash "$PKG" -p "$EMU_SPEC" --stall-timeout $STALL >"$WORK/out" 2>&1 || rc=$?
t1=$(date +%s)
[ $rc -eq 5 ] || { cat "$WORK/out"; fail "stalled flash exited $rc, expected 5 (timeout)"; }
[ $((t1 - t0)) -le $((STALL + 5 + 10)) ] || fail "stall took $((t1 - t0)) s to detect"
grep -q "stopped accepting data at '" "$WORK/out" || { cat "$WORK/out"; fail "stall message names no partition"; }
grep -q "(byte [0-9]*)" "$WORK/out" || { cat "$WORK/out"; fail "stall message names no offset"; }
stop_emu
start_emu "$img" tcp:127.0.0.1:0 --storage nand
"$MODEMFW" flash "$PKG" -p "$EMU_SPEC" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "resume failed"; }
grep -q "partitions done in an earlier run" "$WORK/out" || { cat "$WORK/out"; fail "journal not used"; }
grep -q "unchanged (device digest and journal): skipped" "$WORK/out" ||
	{ cat "$WORK/out"; fail "no finished partition was skipped"; }
stop_emu
check_image "$PKG/expected.json" "$img" nand "$WORK/before.img"
echo "ok: stall detected in $((t1 - t0)) s, resumed"

# --- 2. disconnect + power cycle inside one run
rm -rf "$img" "$img".*
rm -rf "$XDG_STATE_HOME"
start_emu "$img" tcp:127.0.0.1:0 --storage nand --fault disconnect@bytes=12000000,delay=1500
snapshot "$img" "$WORK/before.img"
timeout 120 "$MODEMFW" flash "$PKG" -p "$EMU_SPEC" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "flash did not recover from a disconnect"; }
grep -q "recovered from 1 disconnect" "$WORK/out" || { cat "$WORK/out"; fail "no recovery reported"; }

# --- 3. identical re-flash: everything skipped
"$MODEMFW" flash "$PKG" -p "$EMU_SPEC" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "re-flash failed"; }
grep -q "0 programs" "$WORK/out" || { cat "$WORK/out"; fail "identical re-flash wrote data"; }
stop_emu
check_image "$PKG/expected.json" "$img" nand "$WORK/before.img"
echo "ok: disconnect recovered in one run; identical re-flash skipped everything"
