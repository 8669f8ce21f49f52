#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# modemfw dfota build + check on generated targetfiles (tests/data/gen-targetfiles.py):
#   build from directories, again, and from zips -> the same bytes; zip layout
#   (sorted, fixed time, no extra fields) and script shape; check -> 0 with the
#   result identical to DST; a package built against the wrong source -> 510
#   before it ships; wrong version -> 505; a damaged zip -> 504; ed25519
#   signature; --scope kernel; lists from the command line.
. "$SRCDIR/tests/integration/lib.sh"

command -v python3 >/dev/null || fail "python3 missing"
command -v openssl >/dev/null || fail "openssl missing"

T="$BUILDDIR/test-packages/targetfiles"
if [ ! -f "$T/.done" ]; then
	python3 "$SRCDIR/tests/data/gen-targetfiles.py" --out "$T" --wrong-source --zip \
		>"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log" >&2; fail "gen-targetfiles.py failed"; }
	touch "$T/.done"
fi
M="$MODEMFW"

echo "== build twice, and from zips: same bytes"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/u1.zip" || fail "build exit $?"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/u2.zip" || fail "second build exit $?"
cmp "$WORK/u1.zip" "$WORK/u2.zip" || fail "two builds differ"
"$M" -q dfota build --from "$T/src.zip" --to "$T/dst.zip" -o "$WORK/u3.zip" || fail "zip build exit $?"
cmp "$WORK/u1.zip" "$WORK/u3.zip" || fail "build from zips differs from build from directories"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/u4.zip" --full "$T/lists/fullota.txt" \
	--preserve "$T/lists/noota.txt" --perms "$T/lists/chmod.txt" || fail "build with lists exit $?"
cmp "$WORK/u1.zip" "$WORK/u4.zip" || fail "the same lists on the command line give another package"
ls "$WORK" | grep -q dfota-build && fail "scratch directory left behind"

echo "== zip layout and script shape"
python3 - "$WORK/u1.zip" "$T/summary.json" <<'PY' || fail "package layout"
import json, re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
info = z.infolist()
names = [i.filename for i in info]
assert names == sorted(names), "entries not sorted"
for i in info:
    assert i.date_time == (2008, 1, 1, 0, 0, 0), (i.filename, i.date_time)
    assert i.extra == b"", (i.filename, i.extra)
assert z.testzip() is None
s = z.read("META-INF/com/google/android/updater-script").decode()
meta = dict(l.split("=", 1) for l in z.read("META-INF/com/android/metadata").decode().split("\n") if l)
summ = json.load(open(sys.argv[2]))
assert meta["pre-version"] == summ["src_version"] and meta["post-version"] == summ["dst_version"], meta
assert meta["scope"] == "all" and int(meta["required-cache"]) > 0, meta
lines = s.split("\n")
def first(pat):
    for n, l in enumerate(lines):
        if re.search(pat, l):
            return n
    raise AssertionError("no line matches " + pat)
order = [first(r'^file_getprop\("/etc/quectel-project-version.prop", "version"\) == "%s" \|\| abort\("E505' % re.escape(summ["src_version"])),
         first(r'^apply_patch_check\("/'), first(r'^apply_patch_check\("MTD:'), first(r'^apply_patch_space\("\d+"\) \|\| abort\("E511'),
         first(r'^delete\("/'), first(r'^apply_patch\("/'), first(r'^apply_patch\("MTD:'),
         first(r'^package_extract_file\("system/'), first(r'^symlink\('), first(r'^set_metadata\("/'), first(r'^ui_print\("done"\)')]
assert order == sorted(order), order
# size-list names: MTD:<name>:<size>:<sha1>:<size>:<sha1>, patches present
mtd = re.findall(r'apply_patch\("MTD:(\w+):(\d+):([0-9a-f]{40}):(\d+):([0-9a-f]{40})", "-", "([0-9a-f]{40})", "(\d+)", "([0-9a-f]{40})", package_extract_file\("(\w+)\.img\.p"\)\);', s)
assert {m[0] for m in mtd} == {"boot", "modem", "tz"}, mtd
for m in mtd:
    assert m[4] == m[5] and m[3] == m[6] and m[2] == m[7] and m[8] == m[0], m
    assert z.read(m[0] + ".img.p")[:8] == b"BSDIFF40"
assert 'write_raw_image(package_extract_file("aboot.img"), "aboot");' in s
# every patched file has its check, its patch entry and the E510 abort naming it
for p in re.findall(r'^apply_patch\("(/[^"]+)", "-"', s, re.M):
    assert ('apply_patch_check("%s", ' % p) in s and ('E510: \\"%s\\"' % p) in s, p
    assert z.read("patch%s.p" % p)[:8] == b"BSDIFF40", p
# preserved user files are never touched; removed feature dir goes with delete_recursive
assert "/data/user" not in s
assert 'delete_recursive("/usr/share/oldfeature");' in s
assert 'package_extract_dir("system/usr/lib/newfeature", "/usr/lib/newfeature");' in s
assert "system/usr/lib/newfeature/cache/" in names
assert 'symlink("libqmi.so.1.1", "/lib/libqmi.so.1");' in s
assert 'set_metadata("/usr/bin/dropbear", "uid", "0", "gid", "0", "mode", "0700");' in s
assert 'set_metadata("/usr/bin/atfwd_daemon"' not in s or '"0750"' in s
# the full-replace list ships whole
assert 'package_extract_file("system/usr/bin/qmi_shell", "/usr/bin/qmi_shell");' in s
assert "patch/usr/bin/qmi_shell.p" not in names
ops = len(re.findall(r'^(apply_patch|package_extract|delete|symlink)', s, re.M))
assert summ["rootfs_entries_changed"] >= 300, summ
print("layout ok:", len(names), "entries,", ops, "file operations")
PY

echo "== check against the source: 0, identical to the target"
"$M" dfota check "$WORK/u1.zip" --against "$T/src" --expect "$T/dst" >"$WORK/check.out" 2>"$WORK/check.err" ||
	{ cat "$WORK/check.err" >&2; fail "check exit $?"; }
grep -q "^result 0: " "$WORK/check.out" || fail "no result line: $(cat "$WORK/check.out")"
grep -q "result identical to the target" "$WORK/check.out" || fail "expect not confirmed"
grep -q "device needs: cache [1-9]" "$WORK/check.out" || fail "no space report"
grep -q "the updater applied it to a copy of the source" "$WORK/check.out" ||
	echo "note: the updater is not built in: only the checker's own run"
"$M" -q dfota check "$WORK/u1.zip" --against "$T/src.zip" --expect "$T/dst.zip" --model-only ||
	fail "check against zips exit $?"

echo "== a package built against the wrong source: 510 before it ships"
"$M" -q dfota build --from "$T/wrong-src" --to "$T/dst" -o "$WORK/wrong.zip" || fail "build from wrong source"
rc=0
"$M" dfota check "$WORK/wrong.zip" --against "$T/src" 2>"$WORK/wrong.err" || rc=$?
[ "$rc" = 6 ] || fail "wrong-source package: exit $rc, expected 6"
grep -q "result 510: .*\"/lib/libdiag.so.1.0\" has unexpected contents" "$WORK/wrong.err" ||
	fail "510 does not name the file: $(cat "$WORK/wrong.err")"
rc=0
"$M" --json dfota check "$WORK/u1.zip" --against "$T/wrong-src" >"$WORK/wrong.json" 2>/dev/null || rc=$?
[ "$rc" = 6 ] || fail "module with other files: exit $rc"
grep -q '"code":510,"what":"/lib/libdiag.so.1.0"' "$WORK/wrong.json" || fail "json: $(cat "$WORK/wrong.json")"

echo "== wrong version: 505"
rc=0
"$M" dfota check "$WORK/u1.zip" --against "$T/dst" 2>"$WORK/ver.err" || rc=$?
[ "$rc" = 6 ] && grep -q "result 505" "$WORK/ver.err" || fail "wrong version: exit $rc $(cat "$WORK/ver.err")"

echo "== expected target differs: 502"
rc=0
"$M" dfota check "$WORK/u1.zip" --against "$T/src" --expect "$T/wrong-src" --model-only 2>"$WORK/exp.err" || rc=$?
[ "$rc" = 7 ] && grep -q "result 502" "$WORK/exp.err" || fail "expect mismatch: exit $rc $(cat "$WORK/exp.err")"

echo "== permissions from the command line shape the result"
printf 'etc/hostname 0644 0 0\n' >"$WORK/perms.txt"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/p.zip" --perms "$WORK/perms.txt" || fail "perms build"
unzip -p "$WORK/p.zip" META-INF/com/google/android/updater-script | grep -q 'set_metadata("/etc/hostname", "uid", "0", "gid", "0", "mode", "0644");' &&
	fail "hostname keeps 0644 in both: no set_metadata expected"
rc=0
"$M" dfota check "$WORK/p.zip" --against "$T/src" --expect "$T/dst" --model-only 2>"$WORK/p.err" || rc=$?
[ "$rc" = 7 ] && grep -q "result 502: after the update '/etc/hostname' has mode 0644 uid 0 gid 0, expected 0600" "$WORK/p.err" ||
	fail "metadata difference not caught: exit $rc $(cat "$WORK/p.err")"
"$M" -q dfota check "$WORK/p.zip" --against "$T/src" --expect "$T/dst" --perms "$WORK/perms.txt" --model-only ||
	fail "check with the build's --perms exit $?"

echo "== damaged zip: 504"
python3 - "$WORK/u1.zip" "$WORK/bad.zip" <<'PY'
import sys, zipfile
data = bytearray(open(sys.argv[1], "rb").read())
z = zipfile.ZipFile(sys.argv[1])
i = z.getinfo("boot.img.p")
off = i.header_offset + 30 + len(i.filename.encode()) + len(i.extra) + i.compress_size // 2
data[off] ^= 0x40
open(sys.argv[2], "wb").write(data)
PY
rc=0
"$M" dfota check "$WORK/bad.zip" --against "$T/src" 2>"$WORK/bad.err" || rc=$?
[ "$rc" = 3 ] && grep -q "result 504: .*boot.img.p" "$WORK/bad.err" || fail "damaged: exit $rc $(cat "$WORK/bad.err")"
head -c 1000 "$WORK/u1.zip" >"$WORK/trunc.zip"
rc=0
"$M" dfota check "$WORK/trunc.zip" --against "$T/src" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "truncated zip: exit $rc"

echo "== ed25519 signature"
openssl genpkey -algorithm ed25519 -out "$WORK/key.pem" 2>/dev/null
openssl pkey -in "$WORK/key.pem" -pubout -out "$WORK/pub.pem"
openssl genpkey -algorithm ed25519 -out "$WORK/other.pem" 2>/dev/null
openssl pkey -in "$WORK/other.pem" -pubout -out "$WORK/other-pub.pem"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/s1.zip" --key "$WORK/key.pem" || fail "signed build"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/s2.zip" --key "$WORK/key.pem" || fail "signed build 2"
cmp "$WORK/s1.zip" "$WORK/s2.zip" || fail "signed builds differ"
"$M" dfota check "$WORK/s1.zip" --against "$T/src" --pubkey "$WORK/pub.pem" >"$WORK/sig.out" 2>/dev/null ||
	fail "signed check"
grep -q "signature verified" "$WORK/sig.out" || fail "signature not reported: $(cat "$WORK/sig.out")"
rc=0
"$M" -q dfota check "$WORK/s1.zip" --against "$T/src" --pubkey "$WORK/other-pub.pem" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "other key accepted: exit $rc"
rc=0
"$M" -q dfota check "$WORK/u1.zip" --against "$T/src" --pubkey "$WORK/pub.pem" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "unsigned package accepted with --pubkey: exit $rc"
# same contents, a forged signature line: refused
python3 - "$WORK/s1.zip" "$WORK/forged.zip" <<'PY'
import sys, zipfile
src = zipfile.ZipFile(sys.argv[1])
with zipfile.ZipFile(sys.argv[2], "w") as out:
    for i in src.infolist():
        data = src.read(i)
        if i.filename == "META-INF/com/google/android/updater-script":
            data = data.replace(b'ui_print("done");', b'ui_print("done!");')
        out.writestr(i, data)
PY
rc=0
"$M" -q dfota check "$WORK/forged.zip" --against "$T/src" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "altered signed package accepted: exit $rc"

echo "== scope kernel"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/k.zip" --scope kernel || fail "kernel build"
unzip -Z1 "$WORK/k.zip" | sort >"$WORK/k.list"
printf '%s\n' META-INF/com/android/metadata META-INF/com/google/android/updater-script boot.img.p |
	sort | cmp -s - "$WORK/k.list" || fail "kernel scope entries: $(cat "$WORK/k.list")"
"$M" -q dfota check "$WORK/k.zip" --against "$T/src" --expect "$T/dst" || fail "kernel check exit $?"

echo "dfota-build: all passed"
