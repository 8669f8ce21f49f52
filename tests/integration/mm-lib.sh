# SPDX-License-Identifier: BSD-3-Clause
# Sourced after lib.sh by the scenarios that need ModemManager on a bus: a
# private dbus-daemon (address in $ADDR), the fake ModemManager binary
# ($FAKE_MM), the recorded EC25 tree ($TREE) and its uid ($UID_EC25);
# background helpers added to $PIDS are stopped on exit; wait_for polls a
# file for a pattern, bounded (10 s).
FAKE_MM="$BUILDDIR/tests/fake-mm/fake-mm"
TREE="$SRCDIR/tests/data/sysfs/ec25"
UID_EC25=/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1
[ -x "$FAKE_MM" ] || fail "fake-mm not built ($FAKE_MM)"
command -v dbus-daemon >/dev/null || fail "dbus-daemon missing: run scripts/install-deps.sh"

PIDS=""
stop_all() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	cleanup
}
trap stop_all EXIT INT TERM

wait_for() { # FILE PATTERN what
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "timed out waiting for $3 ('$2' in $1): $(cat "$1" 2>/dev/null)"
		sleep 0.1
	done
}

# a private bus
dbus-daemon --session --nofork --print-address=1 >"$WORK/bus.addr" 2>"$WORK/bus.err" &
PIDS="$PIDS $!"
wait_for "$WORK/bus.addr" "unix:" "dbus-daemon"
ADDR=$(head -1 "$WORK/bus.addr")
