#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# DFOTA end to end: generated targetfiles -> modemfw dfota build -> dfota check ->
# modemfw dfota apply on a materialized copy of SRC (root tree with SRC's
# metadata, one file per partition, an empty cache) -> the result equals DST
# byte for byte and in metadata (mode always, uid/gid when run as root), the
# preserved user files are SRC's, every partition is DST's. Then: applying
# again changes nothing; a module whose files differ ends with 510 and an
# untouched root.
#
# The expected metadata is computed here in Python from the targetfiles'
# lists (chmod.txt > filesystem_config.txt > executable bit), independently
# of lib/dfota/targetfiles.c, so a rule both sides got wrong cannot hide.
. "$SRCDIR/tests/integration/lib.sh"

command -v python3 >/dev/null || fail "python3 missing"
M="$MODEMFW"

T="$BUILDDIR/test-packages/targetfiles"
if [ ! -f "$T/.done" ]; then
	python3 "$SRCDIR/tests/data/gen-targetfiles.py" --out "$T" --wrong-source --zip \
		>"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log" >&2; fail "gen-targetfiles.py failed"; }
	touch "$T/.done"
fi

echo "== build and check"
"$M" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/update.zip" || fail "build exit $?"
"$M" -q dfota check "$WORK/update.zip" --against "$T/src" --expect "$T/dst" || fail "check exit $?"

cat >"$WORK/tf.py" <<'PY'
import hashlib, os, shutil, stat, sys

ROOT_USER = os.geteuid() == 0

def read_lines(p):
    if not os.path.exists(p):
        return []
    out = []
    for l in open(p):
        l = l.split("#", 1)[0].strip()
        if l:
            out.append(l)
    return out

def model(tf):
    """{path: (kind, mode, uid, gid, sha1|link)} for SYSTEM/, plus partitions."""
    perms = []
    for l in read_lines(os.path.join(tf, "OTA/chmod.txt")):
        f = l.split()
        perms.append((f[0].strip("/"), int(f[1], 8), int(f[2]), int(f[3]),
                      int(f[4], 8) if len(f) > 4 else 0o755))
    fsc = {}
    for l in read_lines(os.path.join(tf, "META/filesystem_config.txt")):
        f = l.split()
        fsc[f[0].strip("/")] = (int(f[1]), int(f[2]), int(f[3], 8))
    sysroot = os.path.join(tf, "SYSTEM")
    out = {}
    for dirpath, dirs, files in os.walk(sysroot):
        for nm in dirs + files:
            full = os.path.join(dirpath, nm)
            rel = os.path.relpath(full, sysroot)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0o777, 0, 0, os.readlink(full))
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            best = None
            for r in perms:
                if rel == r[0] or rel.startswith(r[0] + "/"):
                    if best is None or len(r[0]) >= len(best[0]):
                        best = r
            if best:
                mode, uid, gid = (best[4] if is_dir else best[1]), best[2], best[3]
            elif rel in fsc:
                uid, gid, mode = fsc[rel]
            else:
                mode = 0o755 if is_dir or st.st_mode & 0o111 else 0o644
                uid = gid = 0
            data = None if is_dir else hashlib.sha1(open(full, "rb").read()).hexdigest()
            out[rel] = ("dir" if is_dir else "file", mode, uid, gid, data)
    return out

def parts(tf):
    p = {"boot": "BOOTABLE_IMAGES/boot.img", "modem": "RADIO/NON-HLOS.ubi"}
    md = os.path.join(tf, "MULTIFOTA")
    for nm in sorted(os.listdir(md)):
        p[nm] = "MULTIFOTA/" + nm
    return {k: os.path.join(tf, v) for k, v in p.items()}

def on_disk(root):
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for nm in dirs + files:
            full = os.path.join(dirpath, nm)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0o777, 0, 0, os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, st.st_gid, None)
            else:
                out[rel] = ("file", st.st_mode & 0o7777, st.st_uid, st.st_gid,
                            hashlib.sha1(open(full, "rb").read()).hexdigest())
    return out

def materialize(tf, dev):
    """dev/root with tf's metadata, dev/parts/<name>, dev/cache."""
    root = os.path.join(dev, "root")
    shutil.copytree(os.path.join(tf, "SYSTEM"), root, symlinks=True)
    for rel, (kind, mode, uid, gid, _) in sorted(model(tf).items(), reverse=True):
        if kind == "link":
            continue
        p = os.path.join(root, rel)
        os.chmod(p, mode)
        if ROOT_USER:
            os.lchown(p, uid, gid)
    os.makedirs(os.path.join(dev, "parts"))
    os.makedirs(os.path.join(dev, "cache"))
    for nm, src in parts(tf).items():
        shutil.copyfile(src, os.path.join(dev, "parts", nm))

def same(a, b):
    if a is None or b is None:
        return a == b
    if a[0] != b[0] or a[4] != b[4]:
        return False
    if a[0] == "link":
        return True
    return a[1] == b[1] and (not ROOT_USER or a[2:4] == b[2:4])

def compare(src_tf, dst_tf, dev):
    exp, old, got = model(dst_tf), model(src_tf), on_disk(os.path.join(dev, "root"))
    keep = [l.strip("/") for l in read_lines(os.path.join(dst_tf, "OTA/noota.txt"))]
    bad = []
    for rel in sorted(set(exp) | set(got) | set(old)):
        preserved = any(rel == k or rel.startswith(k + "/") for k in keep)
        want = old.get(rel) if preserved else exp.get(rel)
        if not same(got.get(rel), want):
            bad.append("%s: got %s, want %s%s" % (rel, got.get(rel), want, " (preserved)" if preserved else ""))
    for nm, img in parts(dst_tf).items():
        p = os.path.join(dev, "parts", nm)
        if not os.path.exists(p) or open(p, "rb").read() != open(img, "rb").read():
            bad.append("partition %s differs from the target" % nm)
    for b in bad[:20]:
        print(b)
    n = sum(1 for rel in set(exp) | set(old) if exp.get(rel) != old.get(rel))
    print("compared %d entries (%d differ between SRC and DST), %d partitions: %d mismatches"
          % (len(got), n, len(parts(dst_tf)), len(bad)))
    return not bad

def snapshot(dev):
    return sorted(on_disk(os.path.join(dev, "root")).items())

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "materialize":
        materialize(sys.argv[2], sys.argv[3])
    elif cmd == "compare":
        sys.exit(0 if compare(sys.argv[2], sys.argv[3], sys.argv[4]) else 1)
    elif cmd == "snapshot":
        open(sys.argv[3], "w").write(repr(snapshot(sys.argv[2])))
PY

apply() { # dev-dir -> exit code of modemfw dfota apply, output in dev/apply.out
	rc=0
	"$M" dfota apply "$WORK/update.zip" --root "$1/root" --partitions "$1/parts" --cache "$1/cache" \
		>"$1/apply.out" 2>"$1/apply.err" || rc=$?
	return $rc
}

echo "== apply on a copy of SRC"
python3 "$WORK/tf.py" materialize "$T/src" "$WORK/dev" || fail "materialize"
apply "$WORK/dev" || { cat "$WORK/dev/apply.err" >&2; fail "apply exit $rc"; }
grep -q '+QIND: "FOTA","END",0' "$WORK/dev/apply.out" || fail "no END,0: $(cat "$WORK/dev/apply.out")"
python3 "$WORK/tf.py" compare "$T/src" "$T/dst" "$WORK/dev" || fail "result differs from DST"

echo "== apply again: nothing changes"
python3 "$WORK/tf.py" snapshot "$WORK/dev" "$WORK/snap1"
apply "$WORK/dev" || { cat "$WORK/dev/apply.err" >&2; fail "second apply exit $rc"; }
grep -q '+QIND: "FOTA","END",0' "$WORK/dev/apply.out" || fail "second run: $(cat "$WORK/dev/apply.out")"
python3 "$WORK/tf.py" snapshot "$WORK/dev" "$WORK/snap2"
cmp -s "$WORK/snap1" "$WORK/snap2" || fail "second apply changed the tree"
python3 "$WORK/tf.py" compare "$T/src" "$T/dst" "$WORK/dev" >/dev/null || fail "second apply broke the result"

echo "== a module with other files: 510, root untouched"
python3 "$WORK/tf.py" materialize "$T/wrong-src" "$WORK/wrong" || fail "materialize wrong"
python3 "$WORK/tf.py" snapshot "$WORK/wrong" "$WORK/snapw1"
apply "$WORK/wrong" && fail "apply on the wrong source succeeded"
grep -q '+QIND: "FOTA","END",510' "$WORK/wrong/apply.out" || fail "no END,510: $(cat "$WORK/wrong/apply.out")"
python3 "$WORK/tf.py" snapshot "$WORK/wrong" "$WORK/snapw2"
cmp -s "$WORK/snapw1" "$WORK/snapw2" || fail "the refused update changed the root"

echo "dfota-e2e: all passed"
