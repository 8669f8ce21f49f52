#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# DFOTA power-cut proof on a realistic update: targetfiles from
# tests/data/gen-targetfiles.py (300+ rootfs entries changed/added/removed,
# boot and modem patches, MULTIFOTA partitions, preserved user files under
# data/user), the package from `modemfw dfota build`, the module laid out
# from SRC. tests/powercut/driver.c (PCDRIVER) applies it once uncut, then
# cuts power at a seeded sample of the updater's mutating I/O operations
# (last write dropped/kept/torn), reruns up to the retry limit and requires
# every outcome to be the target exactly or the source exactly with an error
# code, preserved files intact. Then single faults: EIO once on a chosen path
# (a refused run leaves the source, a run failing mid-way is finished by the
# rerun) and ENOSPC on the cache (511, source). PC_SAMPLE / PC_SEED override the sample;
# bench/dfota-powercut/run.sh runs every cut point.
. "$SRCDIR/tests/integration/lib.sh"

command -v python3 >/dev/null || fail "python3 missing"
: "${PCDRIVER:?run through meson test}"
SAMPLE=${PC_SAMPLE:-24}
SEED=${PC_SEED:-1}

T="$BUILDDIR/test-packages/targetfiles"
if [ ! -f "$T/.done" ]; then
	# same flags as dfota-e2e.sh, which shares this directory
	python3 "$SRCDIR/tests/data/gen-targetfiles.py" --out "$T" --wrong-source --zip \
		>"$WORK/gen.log" 2>&1 || { cat "$WORK/gen.log" >&2; fail "gen-targetfiles.py failed"; }
	touch "$T/.done"
fi

echo "== package"
if "$MODEMFW" -q dfota build --from "$T/src" --to "$T/dst" -o "$WORK/update.zip" 2>"$WORK/build.err"; then
	BUILD=""
else
	echo "modemfw dfota build failed ($(head -1 "$WORK/build.err")): building through the library" >&2
	BUILD="--build $T/src $T/dst"
fi

echo "== module from SRC"
python3 "$SRCDIR/tests/data/tftree.py" materialize "$T/src" "$WORK/dev" >"$WORK/preserve" \
	|| fail "materialize"
set --
while read -r p; do set -- "$@" --preserve "$p"; done <"$WORK/preserve"
[ $# -gt 0 ] || fail "the targetfiles have no preserved paths"

echo "== power cuts: $SAMPLE cut points, seed $SEED"
# shellcheck disable=SC2086
"$PCDRIVER" $BUILD --pkg "$WORK/update.zip" --root "$WORK/dev/root" --partitions "$WORK/dev/parts" \
	--cache "$WORK/dev/cache" "$@" --sample "$SAMPLE" --seed "$SEED" >"$WORK/pc.out" 2>"$WORK/pc.err"
rc=$?
cat "$WORK/pc.out"
[ $rc -eq 0 ] || { tail -20 "$WORK/pc.err" >&2; fail "power-cut enumeration: exit $rc"; }
grep -q '^other: 0$' "$WORK/pc.out" || fail "some cut left neither source nor target"
tried=$(sed -n 's/^cut points tried: //p' "$WORK/pc.out")
[ "$tried" -ge "$SAMPLE" ] || fail "only $tried cut points tried"
ops=$(sed -n 's/^mutating operations in one run: //p' "$WORK/pc.out")
[ "$ops" -ge 1000 ] || fail "only $ops operations: the update is not realistic"
echo "== faults: EIO once on a patched file, its temp file, the cache copy, the modem partition; ENOSPC on the cache"
P=$(python3 -c '
import re, sys, zipfile
s = zipfile.ZipFile(sys.argv[1]).read("META-INF/com/google/android/updater-script").decode()
print(re.search(r"^apply_patch\(\"(/[^\"]+)\", \"-\"", s, re.M).group(1))' "$WORK/update.zip") \
	|| fail "no patched file in the script"
for f in "--eio $P" "--eio $P.patch" "--eio /cache/saved.file" "--eio /.part/modem" "--cache-quota 1000000"; do
	# shellcheck disable=SC2086
	"$PCDRIVER" --pkg "$WORK/update.zip" --root "$WORK/dev/root" --partitions "$WORK/dev/parts" \
		--cache "$WORK/dev/cache" "$@" $f >"$WORK/fault.out" 2>"$WORK/fault.err" \
		|| { cat "$WORK/fault.out" "$WORK/fault.err" >&2; fail "fault $f"; }
	grep -v '^uncut' "$WORK/fault.out"
done
grep -q "code 511, state source" "$WORK/fault.out" || fail "ENOSPC on the cache did not end with 511 on the source"
echo "dfota-powercut: all passed"
