#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# modemfw dfota send against the virtual modem in normal mode (issue 8):
# generated targetfiles SRC/DST -> modemfw dfota build -> a module whose
# root file system and partitions are SRC (used in place by the emulator's
# recovery) -> dfota send over its AT port (AT+QFUPL with acks and checksum,
# AT+QFOTADL, +QIND URCs through the reboots, AT+QGMR) ->
#   result 0 and the module's tree and partitions equal DST (content,
#   modes, symlinks; owners when run as root), AT+QGMR reports DST's version;
#   the same with two power losses in the recovery (it reboots and resumes);
#   five power losses: the updater's retry counter stops the sixth run (521);
#   a package for another source version: 505, module unchanged;
#   a module whose files differ from SRC: 510, module unchanged;
#   a module whose cache is too small: 511, module unchanged;
#   a URL (the module has no network): 701.
# The expected tree is computed here in Python from the targetfiles (the
# metadata rules of docs/dfota.md), independently of lib/dfota.
. "$SRCDIR/tests/integration/lib.sh"

command -v python3 >/dev/null || fail "python3 missing"
M="$MODEMFW"
T="$WORK/tf"
python3 "$SRCDIR/tests/data/gen-targetfiles.py" --out "$T" --wrong-source >"$WORK/gen.log" 2>&1 ||
	{ cat "$WORK/gen.log" >&2; fail "gen-targetfiles.py failed"; }
# another source version: SRC with a different version line, otherwise identical
cp -a "$T/src" "$T/other"
echo "RG520NEUDCR01A01M4G_01.000.09.009" >"$T/other/SYSTEM/etc/quectel-project-version"

"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/update.zip" || fail "build exit $?"
"$M" -q dfota build --from "$T/other" --to "$T/dst" -o "$WORK/other.zip" || fail "build other exit $?"

TREE="$SRCDIR/tests/data/tftree.py"

# send NAME TF PACKAGE [emu options...]: a module with TF's files, the package sent to it;
# sets CODE (from the JSON end event, -1 when none) and RC (the exit status).
send() {
	name=$1 tf=$2 pkg=$3
	shift 3
	DEV="$WORK/$name"
	python3 "$TREE" materialize "$tf" "$DEV" >/dev/null || fail "$name: materialize"
	python3 "$TREE" snapshot "$DEV" "$DEV/before"
	start_emu_normal "$DEV/flash.img" --rootfs "$DEV/root" --partitions "$DEV/parts" "$@"
	RC=0
	"$M" dfota send "$pkg" -p "$EMU_AT" --json >"$DEV/send.json" 2>"$DEV/send.err" || RC=$?
	CODE=$(sed -n 's/.*"event":"dfota-send-end".*"code":\(-\{0,1\}[0-9]*\).*/\1/p' "$DEV/send.json")
	[ -n "$CODE" ] || CODE=-1
	cp "$WORK/emu.log" "$DEV/emu.log"
	stop_emu
	echo "$name: code $CODE, exit $RC"
}

unchanged() {
	python3 "$TREE" snapshot "$DEV" "$DEV/after"
	cmp -s "$DEV/before" "$DEV/after" || fail "$1: the refused update changed the module"
}

updated() {
	python3 "$TREE" compare "$T/src" "$T/dst" "$DEV" || fail "$1: the module is not DST"
	want=$(head -1 "$T/dst/SYSTEM/etc/quectel-project-version")
	grep -q "\"firmware_after\":\"$want\"" "$DEV/send.json" ||
		fail "$1: AT+QGMR after the update is not $want: $(tail -1 "$DEV/send.json")"
}

echo "== send: result 0, the module becomes DST"
send ok "$T/src" "$WORK/update.zip"
[ "$CODE" = 0 ] && [ "$RC" = 0 ] || { cat "$DEV/send.err" >&2; fail "ok: code $CODE exit $RC"; }
updated ok
grep -q '"step":"upload"' "$DEV/send.json" || fail "ok: no upload step in the JSON"
grep -q '"step":"reconnect"' "$DEV/send.json" || fail "ok: the port never went away and came back"
grep -q '"phase":"update"' "$DEV/send.json" || fail "ok: no update progress"
grep -q '+QIND: \\"FOTA\\",\\"UPDATING\\"' "$DEV/send.json" || fail "ok: no UPDATING URC"

echo "== two power losses during the update: the recovery reboots, resumes, result 0"
send powercut "$T/src" "$WORK/update.zip" --fault fota-powercut@op=40 --fault fota-powercut@op=400
[ "$CODE" = 0 ] && [ "$RC" = 0 ] || { cat "$DEV/send.err" >&2; fail "powercut: code $CODE exit $RC"; }
[ "$(grep -c 'fault: power lost' "$DEV/emu.log")" = 2 ] ||
	fail "powercut: expected two power losses, emu log says $(grep -c 'fault: power lost' "$DEV/emu.log")"
updated powercut

echo "== a power loss at a seeded random point"
send random "$T/src" "$WORK/update.zip" --fault fota-powercut@random,seed=8,range=1-300
[ "$CODE" = 0 ] || { cat "$DEV/send.err" >&2; fail "random: code $CODE exit $RC"; }
grep -q 'fault: power lost' "$DEV/emu.log" || fail "random: no power loss"
updated random

echo "== five power losses: the updater's retry limit ends the sixth run with 521"
send retries "$T/src" "$WORK/update.zip" --fault fota-powercut@op=40 --fault fota-powercut@op=40 \
	--fault fota-powercut@op=40 --fault fota-powercut@op=40 --fault fota-powercut@op=40
[ "$CODE" = 521 ] && [ "$RC" = 6 ] || { cat "$DEV/send.err" >&2; fail "retries: code $CODE exit $RC"; }
[ "$(grep -c 'fault: power lost' "$DEV/emu.log")" = 5 ] || fail "retries: expected five power losses"

echo "== a package for another version: 505, module unchanged"
send version "$T/src" "$WORK/other.zip"
[ "$CODE" = 505 ] && [ "$RC" = 6 ] || fail "version: code $CODE exit $RC"
unchanged version

echo "== a module whose files differ: 510, module unchanged"
send source "$T/wrong-src" "$WORK/update.zip"
[ "$CODE" = 510 ] && [ "$RC" = 6 ] || fail "source: code $CODE exit $RC"
unchanged source

echo "== a module whose cache is too small: 511, module unchanged"
send nospace "$T/src" "$WORK/update.zip" --fault fota-nospace
[ "$CODE" = 511 ] && [ "$RC" = 1 ] || fail "nospace: code $CODE exit $RC"
unchanged nospace

echo "== a package larger than the user file system: refused before the upload"
send ufs "$T/src" "$WORK/update.zip" --ufs-size 64K
[ "$RC" = 1 ] || fail "ufs: exit $RC"
grep -q 'free' "$DEV/send.json" || fail "ufs: no free-space message: $(cat "$DEV/send.json")"
unchanged ufs

echo "== a URL: the module has no network, HTTP 701"
DEV="$WORK/url"
mkdir -p "$DEV"
start_emu_normal "$DEV/flash.img"
RC=0
"$M" dfota send -p "$EMU_AT" --url http://example.invalid/update.zip >"$DEV/out" 2>&1 || RC=$?
stop_emu
grep -q '^result 701: the HTTP download failed' "$DEV/out" || fail "url: $(cat "$DEV/out")"
[ "$RC" = 1 ] || fail "url: exit $RC"

echo "dfota-send: all passed"
