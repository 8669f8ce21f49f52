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

cat >"$WORK/tree.py" <<'PY'
import hashlib, os, shutil, stat, sys

AS_ROOT = os.geteuid() == 0

def lines(p):
    out = []
    if os.path.exists(p):
        for l in open(p):
            l = l.split("#", 1)[0].strip()
            if l:
                out.append(l)
    return out

def expected(tf):
    """{rel: (kind, mode, uid, gid, sha1 | link target)} of SYSTEM/ with tf's metadata rules."""
    perms = []
    for l in lines(os.path.join(tf, "OTA/chmod.txt")):
        f = l.split()
        perms.append((f[0].strip("/"), int(f[1], 8), int(f[2]), int(f[3]),
                      int(f[4], 8) if len(f) > 4 else 0o755))
    fsc = {}
    for l in lines(os.path.join(tf, "META/filesystem_config.txt")):
        f = l.split()
        fsc[f[0].strip("/")] = (int(f[1]), int(f[2]), int(f[3], 8))
    top = os.path.join(tf, "SYSTEM")
    out = {}
    for d, dirs, files in os.walk(top):
        for nm in dirs + files:
            full = os.path.join(d, nm)
            rel = os.path.relpath(full, top)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, 0, 0, os.readlink(full))
                continue
            isdir = stat.S_ISDIR(st.st_mode)
            best = None
            for p in perms:
                if (rel == p[0] or rel.startswith(p[0] + "/")) and (best is None or len(p[0]) >= len(best[0])):
                    best = p
            if best:
                mode, uid, gid = (best[4] if isdir else best[1]), best[2], best[3]
            elif rel in fsc:
                uid, gid, mode = fsc[rel]
            else:
                mode, uid, gid = (0o755 if isdir or st.st_mode & 0o111 else 0o644), 0, 0
            data = None if isdir else hashlib.sha1(open(full, "rb").read()).hexdigest()
            out[rel] = ("dir" if isdir else "file", mode, uid, gid, data)
    return out

def actual(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for nm in dirs + files:
            full = os.path.join(d, nm)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, 0, 0, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, st.st_gid, None)
            else:
                out[rel] = ("file", st.st_mode & 0o7777, st.st_uid, st.st_gid,
                            hashlib.sha1(open(full, "rb").read()).hexdigest())
    return out

def partitions(tf):
    p = {"boot": "BOOTABLE_IMAGES/boot.img", "modem": "RADIO/NON-HLOS.ubi"}
    for nm in sorted(os.listdir(os.path.join(tf, "MULTIFOTA"))):
        p[nm] = "MULTIFOTA/" + nm
    return {k: os.path.join(tf, v) for k, v in p.items()}

def materialize(tf, dev):
    root = os.path.join(dev, "root")
    shutil.copytree(os.path.join(tf, "SYSTEM"), root, symlinks=True)
    for rel, (kind, mode, uid, gid, _) in sorted(expected(tf).items(), reverse=True):
        if kind != "link":
            os.chmod(os.path.join(root, rel), mode)
            if AS_ROOT:
                os.lchown(os.path.join(root, rel), uid, gid)
    os.makedirs(os.path.join(dev, "parts"))
    for nm, src in partitions(tf).items():
        shutil.copyfile(src, os.path.join(dev, "parts", nm))

def equal(a, b):
    if a is None or b is None:
        return a == b
    if a[0] != b[0] or a[4] != b[4]:
        return False
    return a[0] == "link" or (a[1] == b[1] and (not AS_ROOT or a[2:4] == b[2:4]))

def compare(src, dst, dev):
    want, old, got = expected(dst), expected(src), actual(os.path.join(dev, "root"))
    keep = [l.strip("/") for l in lines(os.path.join(dst, "OTA/noota.txt"))]
    bad = []
    for rel in sorted(set(want) | set(got) | set(old)):
        kept = any(rel == k or rel.startswith(k + "/") for k in keep)
        w = old.get(rel) if kept else want.get(rel)
        if not equal(got.get(rel), w):
            bad.append("%s: got %s, want %s" % (rel, got.get(rel), w))
    for nm, img in partitions(dst).items():
        p = os.path.join(dev, "parts", nm)
        if not os.path.exists(p) or open(p, "rb").read() != open(img, "rb").read():
            bad.append("partition %s differs from DST" % nm)
    for b in bad[:20]:
        print(b)
    print("%d entries, %d partitions compared: %d mismatches" % (len(got), len(partitions(dst)), len(bad)))
    return not bad

def snapshot(dev):
    parts = {}
    pd = os.path.join(dev, "parts")
    for nm in sorted(os.listdir(pd)):
        parts[nm] = hashlib.sha1(open(os.path.join(pd, nm), "rb").read()).hexdigest()
    return repr((sorted(actual(os.path.join(dev, "root")).items()), sorted(parts.items())))

if __name__ == "__main__":
    c = sys.argv[1]
    if c == "materialize":
        materialize(sys.argv[2], sys.argv[3])
    elif c == "compare":
        sys.exit(0 if compare(sys.argv[2], sys.argv[3], sys.argv[4]) else 1)
    elif c == "snapshot":
        open(sys.argv[3], "w").write(snapshot(sys.argv[2]))
PY

# send NAME TF PACKAGE [emu options...]: a module with TF's files, the package sent to it;
# sets CODE (from the JSON end event, -1 when none) and RC (the exit status).
send() {
	name=$1 tf=$2 pkg=$3
	shift 3
	DEV="$WORK/$name"
	python3 "$WORK/tree.py" materialize "$tf" "$DEV" || fail "$name: materialize"
	python3 "$WORK/tree.py" snapshot "$DEV" "$DEV/before"
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
	python3 "$WORK/tree.py" snapshot "$DEV" "$DEV/after"
	cmp -s "$DEV/before" "$DEV/after" || fail "$1: the refused update changed the module"
}

updated() {
	python3 "$WORK/tree.py" compare "$T/src" "$T/dst" "$DEV" || fail "$1: the module is not DST"
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
