#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# ModemManager inhibit over D-Bus: a private dbus-daemon, a fake ModemManager (tests/fake-mm)
# owning org.freedesktop.ModemManager1, a fake AT port on a pty standing in for the EC25's
# /dev/ttyUSB2 of the recorded tree. modemfw at must inhibit the modem's uid for the operation
# and release it after; a modemfw killed mid-operation is released by its leaving the bus;
# a refused inhibit becomes a warning with the fallback, and the operation goes on.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/mm-lib.sh"

# the fake AT port: answers ATI / AT+QGMR / AT+GSN, never answers AT+HANG
mkdir -p "$WORK/dev"
cat >"$WORK/answers.json" <<'JSON'
{
 "ATI": "ATI\r\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n",
 "AT+QGMR": "AT+QGMR\r\r\nEC25EFAR06A06M4G_01.003.01.003\r\n\r\nOK\r\n",
 "AT+GSN": "AT+GSN\r\r\n867962040000005\r\n\r\nOK\r\n"
}
JSON
python3 "$SRCDIR/tests/integration/fake-at.py" "$WORK/dev/ttyUSB2" "$WORK/at.log" "$WORK/answers.json" &
PIDS="$PIDS $!"
wait_for "$WORK/at.log" ready "fake AT port"

start_mm() { # extra fake-mm options
	: >"$WORK/mm.log"
	"$FAKE_MM" --address "$ADDR" --device "$UID_EC25" --log "$WORK/mm.log" --timeout 100 "$@" &
	# (a later --device in "$@" overrides the first)
	MM_PID=$!
	PIDS="$PIDS $MM_PID"
	wait_for "$WORK/mm.log" ready "fake ModemManager"
}

run_at() { # modemfw at on the recorded EC25, its ttyUSB2 being our pty
	DBUS_SYSTEM_BUS_ADDRESS="$ADDR" "$MODEMFW" at --sysfs "$TREE" --dev "$WORK/dev" "$@"
}

# 1. inhibited for the operation, released at the end (explicitly, before the bus closes)
start_mm
run_at ATI AT+GSN >"$WORK/out1" 2>"$WORK/err1" || fail "modemfw at exited $?: $(cat "$WORK/err1")"
grep -qx "EC25" "$WORK/out1" || fail "ATI answer missing: $(cat "$WORK/out1")"
grep -qx "867962040000005" "$WORK/out1" || fail "AT+GSN answer missing"
grep -q "inhibited it over D-Bus (InhibitDevice '$UID_EC25')" "$WORK/err1" || fail "no inhibit notice: $(cat "$WORK/err1")"
grep -q "released the ModemManager inhibition of 1-1" "$WORK/err1" || fail "no release notice"
sed -n 's/^\(inhibit [^ ]* [a-z]*\) .*/\1/p' "$WORK/mm.log" >"$WORK/calls1"
printf 'inhibit %s true\ninhibit %s false\n' "$UID_EC25" "$UID_EC25" | cmp -s - "$WORK/calls1" ||
	fail "InhibitDevice calls: $(cat "$WORK/mm.log")"
# the AT commands went out while the inhibition was held: between the two calls in time
grep -q "cmd ATI" "$WORK/at.log" || fail "ATI never reached the port"

# 1b. devices --probe reads the identity over AT, inhibited the same way
DBUS_SYSTEM_BUS_ADDRESS="$ADDR" "$MODEMFW" devices --probe --json --sysfs "$TREE" --dev "$WORK/dev" \
	>"$WORK/probe.json" 2>"$WORK/probe.err" || fail "devices --probe exited $?: $(cat "$WORK/probe.err")"
python3 - "$WORK/probe.json" <<'PY' || fail "devices --probe identity: $(cat "$WORK/probe.json")"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1]) if '"modem"' in l][0]
i = m["identity"]
assert (i["model"], i["firmware"], i["imei"]) == ("EC25", "EC25EFAR06A06M4G_01.003.01.003", "867962040000005"), i
PY
[ "$(grep -c "inhibit $UID_EC25" "$WORK/mm.log")" = 4 ] || fail "probe did not inhibit and release: $(cat "$WORK/mm.log")"

# 2. killed mid-operation: ModemManager releases when our connection leaves the bus
falses=$(grep -c "inhibit $UID_EC25 false" "$WORK/mm.log")
# started directly (not through run_at, a function: $! would be a subshell, not modemfw)
DBUS_SYSTEM_BUS_ADDRESS="$ADDR" "$MODEMFW" at --sysfs "$TREE" --dev "$WORK/dev" -t 60 AT+HANG \
	>/dev/null 2>"$WORK/err2" &
AT_PID=$!
wait_for "$WORK/mm.log" "inhibit $UID_EC25 true" "the second inhibit"
wait_for "$WORK/at.log" "cmd AT+HANG" "AT+HANG on the port"
kill -KILL "$AT_PID"
wait "$AT_PID" 2>/dev/null || true
wait_for "$WORK/mm.log" "released $UID_EC25 .*left-the-bus" "release on disconnect"
[ "$(grep -c "inhibit $UID_EC25 false" "$WORK/mm.log")" = "$falses" ] || fail "a killed modemfw cannot have released explicitly"
kill -TERM "$MM_PID"
wait "$MM_PID" 2>/dev/null || true

# 3. a ModemManager that refuses: a warning naming the fallback, the operation still runs
start_mm --refuse
run_at ATI >"$WORK/out3" 2>"$WORK/err3" || fail "modemfw at (refused inhibit) exited $?: $(cat "$WORK/err3")"
grep -qx "EC25" "$WORK/out3" || fail "ATI answer missing after a refused inhibit"
grep -q "could not be inhibited" "$WORK/err3" || fail "no fallback warning: $(cat "$WORK/err3")"
grep -q "systemctl stop ModemManager" "$WORK/err3" || fail "fallback does not name systemctl"
grep -q 'ID_MM_DEVICE_IGNORE' "$WORK/err3" || fail "fallback does not name the udev rule"
grep -q "refused $UID_EC25" "$WORK/mm.log" || fail "fake-mm saw no call"

# 4. --no-inhibit: nothing on the bus
: >"$WORK/mm.log.before"
cp "$WORK/mm.log" "$WORK/mm.log.before"
run_at --no-inhibit ATI >/dev/null 2>"$WORK/err4" || fail "--no-inhibit run exited $?"
cmp -s "$WORK/mm.log" "$WORK/mm.log.before" || fail "--no-inhibit still called ModemManager"
grep -q "no-inhibit was given" "$WORK/err4" || fail "--no-inhibit warning missing: $(cat "$WORK/err4")"
kill -TERM "$MM_PID"
wait "$MM_PID" 2>/dev/null || true

# 5. the uid comes from ModemManager's Device property (GetManagedObjects), not our guess:
#    a module behind its own hub, whose Device is a child of the path sysfs gives us
start_mm --device "$UID_EC25/1-1.1"
run_at ATI >/dev/null 2>"$WORK/err5" || fail "modemfw at (hub uid) exited $?: $(cat "$WORK/err5")"
grep -q "^inhibit $UID_EC25/1-1.1 true" "$WORK/mm.log" || fail "uid not taken from Device: $(cat "$WORK/mm.log")"
grep -q "^inhibit $UID_EC25/1-1.1 false" "$WORK/mm.log" || fail "hub uid not released"
echo "mm-inhibit: ok"
