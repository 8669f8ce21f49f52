#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# modemfw devices --json on each recorded sysfs tree (tests/data/sysfs): modes, roles, drivers
# and conflicts checked with python's json; the human table; "no modem found" exits 0.
. "$SRCDIR/tests/integration/lib.sh"
TREES="$SRCDIR/tests/data/sysfs"

for t in ec25 rm520n pcie-rm520n edl-qcserial dump-900e empty; do
	"$MODEMFW" devices --json --sysfs "$TREES/$t" >"$WORK/$t.json" 2>"$WORK/$t.err" ||
		fail "devices --json on $t exited $? ($(cat "$WORK/$t.err"))"
done

python3 - "$WORK" <<'PY' || fail "devices --json output is wrong"
import json, os, sys
work = sys.argv[1]

def load(name):
    events = [json.loads(l) for l in open(os.path.join(work, name + ".json")) if l.strip()]
    modems = [e for e in events if e["event"] == "modem"]
    summary = [e for e in events if e["event"] == "devices"]
    assert len(summary) == 1 and summary[0]["count"] == len(modems), (name, events)
    return modems

def roles(m):
    return {p["name"]: (p["role"], p["dev"], p["driver"], p["interface"]) for p in m["ports"]}

def kinds(m):
    return sorted((c["kind"], c["port"], c["pid"]) for c in m["conflicts"])

ok = True
def check(cond, what):
    global ok
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        ok = False

(m,) = load("ec25")
check((m["bus"], m["path"], m["vid"], m["pid"], m["mode"]) == ("usb", "1-1", "2c7c", "0125", "normal"), m)
check(m["model"] == "EC25/EG25-G" and m["chip"] == "MDM9x07" and m["flashable"], m["model"])
check(roles(m) == {
    "ttyUSB0": ("diag", "/dev/ttyUSB0", "option", 0),
    "ttyUSB1": ("nmea", "/dev/ttyUSB1", "option", 1),
    "ttyUSB2": ("at", "/dev/ttyUSB2", "option", 2),
    "ttyUSB3": ("modem", "/dev/ttyUSB3", "option", 3),
    "cdc-wdm0": ("qmi", "/dev/cdc-wdm0", "qmi_wwan", 4),
    "wwan0": ("qmi", "", "qmi_wwan", 4)}, roles(m))
check(kinds(m) == sorted([("modemmanager", "", 613), ("held", "ttyUSB2", 613),
                          ("held", "cdc-wdm0", 613), ("held", "ttyUSB3", 2000),
                          ("autosuspend", "", 0)]), kinds(m))
check(m["conflicts"][0]["kind"] == "modemmanager", "ModemManager explained first")
check(any("echo on >" in c["message"] for c in m["conflicts"]), "autosuspend advice")

(m,) = load("rm520n")
check((m["path"], m["pid"], m["mode"], m["speed_mbps"]) == ("2-1", "0801", "normal", 5000), m)
check(roles(m)["ttyUSB0"][0] == "diag" and roles(m)["ttyUSB2"][0] == "at", roles(m))
check(kinds(m) == [], kinds(m))

(m,) = load("pcie-rm520n")
check((m["bus"], m["path"], m["vid"], m["pid"], m["mode"], m["driver"]) ==
      ("pcie", "0000:01:00.0", "1eac", "1007", "normal", "mhi-pci-generic"), m)
check({n: r[:2] for n, r in roles(m).items()} == {
    "wwan0at0": ("at", "/dev/wwan0at0"), "wwan0qcdm0": ("diag", "/dev/wwan0qcdm0"),
    "wwan0mbim0": ("mbim", "/dev/wwan0mbim0"), "wwan0nmea0": ("nmea", "/dev/wwan0nmea0"),
    "mhi_hwip0": ("net", "")}, roles(m))

(m,) = load("edl-qcserial")
check((m["vid"], m["pid"], m["mode"]) == ("05c6", "9008", "edl"), m)
check(roles(m) == {"ttyUSB0": ("edl", "/dev/ttyUSB0", "qcserial", 0)}, roles(m))
check(kinds(m) == [("driver", "ttyUSB0", 0)], kinds(m))
check("libusb detaches" in m["conflicts"][0]["message"], m["conflicts"])

(m,) = load("dump-900e")
check((m["pid"], m["mode"]) == ("900e", "dump"), m)
check([p["role"] for p in m["ports"]] == ["dump"] and m["ports"][0]["driver"] == "", m["ports"])
check(kinds(m) == [], kinds(m))

check(load("empty") == [], "empty tree has no modem")
sys.exit(0 if ok else 1)
PY

# human output
"$MODEMFW" devices --sysfs "$TREES/ec25" >"$WORK/ec25.txt" || fail "devices (table) exited $?"
grep -q '^1-1  2c7c:0125  EC25/EG25-G (MDM9x07)  normal mode' "$WORK/ec25.txt" || fail "table header: $(cat "$WORK/ec25.txt")"
grep -q 'at  *\/dev\/ttyUSB2  *if2' "$WORK/ec25.txt" || fail "table AT row"
grep -q '! ModemManager (pid 613)' "$WORK/ec25.txt" || fail "table conflict line"
out=$("$MODEMFW" devices --sysfs "$TREES/empty") || fail "devices on an empty machine exited $?"
case "$out" in "no modem found"*) ;; *) fail "empty: '$out'" ;; esac
"$MODEMFW" devices --sysfs /nonexistent/root >/dev/null 2>&1 && fail "a missing sysfs root must fail"

# -p auto with several candidates: the library lists them and asks to choose
"$MODEMFW" at --sysfs "$TREES/edl-qcserial" ATI >/dev/null 2>"$WORK/at.err" && fail "at on an EDL-only machine must fail"
grep -q "no modem has a port in role 'at'" "$WORK/at.err" || fail "at auto message: $(cat "$WORK/at.err")"
# the AT session and the DIAG switch against the virtual modem in normal mode (ports that sysfs
# does not know: modemfw talks to them as given)
"$MODEMFW" emu --mode normal --listen "pty:$WORK/edl" --listen-at "pty:$WORK/at" \
	--listen-diag "pty:$WORK/diag" >"$WORK/emu.log" 2>&1 &
EMU_PID=$!
i=0
while ! grep -q "normal mode: AT on" "$WORK/emu.log"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "virtual modem (normal mode) did not start"
	kill -0 "$EMU_PID" 2>/dev/null || fail "virtual modem exited"
	sleep 0.1
done
"$MODEMFW" at -p "$WORK/at" ATI AT+GSN >"$WORK/at.out" 2>"$WORK/at.err" || fail "at on the virtual modem exited $?: $(cat "$WORK/at.err")"
grep -qx "Quectel" "$WORK/at.out" || fail "ATI: $(cat "$WORK/at.out")"
grep -qx "[0-9]\{15\}" "$WORK/at.out" || fail "AT+GSN: $(cat "$WORK/at.out")"
[ "$(grep -cx OK "$WORK/at.out")" = 2 ] || fail "two OKs expected: $(cat "$WORK/at.out")"
rc=0
"$MODEMFW" --json at -p "$WORK/at" AT+QNOSUCHCMD >"$WORK/at.json" 2>&1 || rc=$?
[ $rc = 1 ] || fail "an ERROR answer must exit 1, not $rc"
python3 -c 'import json,sys; e=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; a=[x for x in e if x["event"]=="at"]; r=[x for x in e if x["event"]=="error"]; assert a[0]["final"]=="ERROR" and a[0]["lines"]==[] and r and "answered ERROR" in r[0]["detail"], e' "$WORK/at.json" ||
	fail "at --json on ERROR: $(cat "$WORK/at.json")"
"$MODEMFW" edl -p "$WORK/diag" >"$WORK/edl.out" 2>&1 || fail "edl on the virtual modem exited $?: $(cat "$WORK/edl.out")"
i=0
while ! grep -q "switched to EDL" "$WORK/emu.log"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "the virtual modem did not switch to EDL: $(cat "$WORK/emu.log")"
	sleep 0.1
done
echo "devices: ok"
