#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# modemfw dfota send holds ModemManager off the module for the whole send: a private
# dbus-daemon, the fake ModemManager (tests/fake-mm), and a fake AT port on a pty standing
# in for the recorded EC25's /dev/ttyUSB2 (tests/data/sysfs/ec25). The module answers a URL
# update with HTTPSTART/HTTPEND,701 (no network); the send must inhibit the module's uid
# before its first AT command and release it after its last one.
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/mm-lib.sh"

# the module's AT port (echo off): every command is logged with whether ModemManager was
# inhibited when it arrived
mkdir -p "$WORK/dev"
cat >"$WORK/answers.json" <<'JSON'
{
 "AT": "\r\nOK\r\n",
 "AT+CMEE=1": "\r\nOK\r\n",
 "ATI": "\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n",
 "AT+QGMR": "\r\nEC25EFAR06A06M4G_01.003.01.003\r\n\r\nOK\r\n",
 "AT+GSN": "\r\n867962040000005\r\n\r\nOK\r\n",
 "AT+QFOTADL=\"http://example.invalid/u.zip\"": "\r\nOK\r\n\r\n+QIND: \"FOTA\",\"HTTPSTART\"\r\n\r\n+QIND: \"FOTA\",\"HTTPEND\",701\r\n"
}
JSON
python3 "$SRCDIR/tests/integration/fake-at.py" "$WORK/dev/ttyUSB2" "$WORK/at.log" "$WORK/answers.json" \
	--unknown error --mm-log "$WORK/mm.log" &
PIDS="$PIDS $!"
wait_for "$WORK/at.log" ready "fake AT port"

: >"$WORK/mm.log"
"$FAKE_MM" --address "$ADDR" --device "$UID_EC25" --log "$WORK/mm.log" --timeout 100 &
PIDS="$PIDS $!"
wait_for "$WORK/mm.log" ready "fake ModemManager"

rc=0
DBUS_SYSTEM_BUS_ADDRESS="$ADDR" "$MODEMFW" dfota send -p "$WORK/dev/ttyUSB2" --sysfs "$TREE" \
	--dev "$WORK/dev" --url http://example.invalid/u.zip >"$WORK/out" 2>"$WORK/err" || rc=$?
[ $rc = 1 ] || fail "dfota send exited $rc: $(cat "$WORK/err")"
grep -q '^result 701: the HTTP download failed' "$WORK/out" || fail "no 701: $(cat "$WORK/out")"
grep -q 'cmd AT+QFOTADL="http://example.invalid/u.zip" held' "$WORK/at.log" || fail "no AT+QFOTADL: $(cat "$WORK/at.log")"
! grep -q "NOT-HELD" "$WORK/at.log" || fail "AT commands while ModemManager was not inhibited: $(cat "$WORK/at.log")"
sed -n 's/^\(inhibit [^ ]* [a-z]*\) .*/\1/p' "$WORK/mm.log" >"$WORK/calls"
printf 'inhibit %s true\ninhibit %s false\n' "$UID_EC25" "$UID_EC25" | cmp -s - "$WORK/calls" ||
	fail "InhibitDevice calls: $(cat "$WORK/mm.log")"
grep -q "inhibited it over D-Bus" "$WORK/err" || fail "no inhibit notice: $(cat "$WORK/err")"
echo "dfota-send-mm: ok"
