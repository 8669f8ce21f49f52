#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Odd device states that make other flashers hang:
#  - `modemfw info` reads serial/HW id in Sahara command mode; afterwards the
#    device is past HELLO (info consumed the HELLO that followed SWITCH_MODE)
#    and a flash must still work
#  - a fresh device whose HELLO another client took
#  - a programmer already running (an earlier flash with --no-reset)
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
img="$WORK/nand.img"

start_emu "$img" tcp:127.0.0.1:0 --storage nand --serial 0x1234abcd
"$MODEMFW" info -p "$EMU_SPEC" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "info failed"; }
grep -q "serial:   0x1234abcd" "$WORK/out" || { cat "$WORK/out"; fail "serial not shown"; }
timeout 60 "$MODEMFW" flash "$PKG" -p "$EMU_SPEC" --no-reset >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "flash after info (past HELLO) failed"; }

# the programmer is still running: a second flash must find it and go on
timeout 60 "$MODEMFW" flash "$PKG" -p "$EMU_SPEC" --restart >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "flash with a running programmer failed"; }
grep -qi "already running" "$WORK/out" || { cat "$WORK/out"; fail "running programmer not reported"; }
stop_emu

# fresh device, a client takes the HELLO and leaves
rm -rf "$img" "$img".*
start_emu "$img" tcp:127.0.0.1:0 --storage nand
host=${EMU_SPEC#tcp:}
python3 - "${host%:*}" "${host##*:}" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
data = s.recv(48)
assert data[:4] == b"\x01\x00\x00\x00", data
s.close()
PY
timeout 60 "$MODEMFW" flash "$PKG" -p "$EMU_SPEC" >"$WORK/out" 2>&1 ||
	{ cat "$WORK/out"; fail "flash of a past-HELLO device failed"; }
stop_emu
echo "ok: info, past-HELLO (twice), running programmer"
