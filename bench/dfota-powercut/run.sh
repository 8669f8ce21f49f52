#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Full DFOTA power-cut enumeration: every mutating I/O operation of the
# updater applying a realistic update (tests/data/gen-targetfiles.py ->
# modemfw dfota build) is a cut point; after each cut the updater is rerun
# up to the retry limit. Writes the counts into the "## DFOTA power-cut
# enumeration" section of docs/benchmarks.md (other sections untouched).
#
# usage: [JOBS=N] bench/dfota-powercut/run.sh [BUILD_DIR] [SEED]
#   BUILD_DIR: a meson build with tests enabled (default: build); its
#   tests/integration/dfota-powercut is the driver (tests/powercut/driver.c).
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$SRC/build}
SEED=${2:-1}
# cut points are split over JOBS processes (--shard K/JOBS)
JOBS=${JOBS:-2}
case $BUILD in /*) ;; *) BUILD=$SRC/$BUILD ;; esac
DRV=$BUILD/tests/integration/dfota-powercut
M=$BUILD/cli/modemfw
ninja -C "$BUILD" tests/integration/dfota-powercut >/dev/null
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mfw-pcbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

python3 "$SRC/tests/data/gen-targetfiles.py" --out "$WORK/tf" --seed "$SEED" >"$WORK/gen.log"
BUILDARG=""
if ! { [ -x "$M" ] && "$M" -q dfota build --from "$WORK/tf/src" --to "$WORK/tf/dst" -o "$WORK/update.zip"; }; then
	BUILDARG="--build $WORK/tf/src $WORK/tf/dst"
fi
python3 "$SRC/tests/data/tftree.py" materialize "$WORK/tf/src" "$WORK/dev" >"$WORK/preserve"
set --
while read -r p; do set -- "$@" --preserve "$p"; done <"$WORK/preserve"

if [ -n "$BUILDARG" ]; then
	# build once through the library, then every shard uses the package
	# shellcheck disable=SC2086
	"$DRV" $BUILDARG --pkg "$WORK/update.zip" --root "$WORK/dev/root" --partitions "$WORK/dev/parts" \
		--cache "$WORK/dev/cache" --sample 1 >/dev/null 2>&1 || true
fi
start=$(date +%s)
k=0
while [ $k -lt "$JOBS" ]; do
	"$DRV" --pkg "$WORK/update.zip" --root "$WORK/dev/root" --partitions "$WORK/dev/parts" \
		--cache "$WORK/dev/cache" "$@" --all --shard "$k/$JOBS" --json \
		>"$WORK/pc.$k.json" 2>"$WORK/pc.$k.err" &
	k=$((k + 1))
done
wait
end=$(date +%s)
cat "$WORK"/pc.*.json
grep -h "OTHER" "$WORK"/pc.*.err | head -20 >&2 || true
python3 - "$WORK" "$JOBS" >"$WORK/pc.json" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
tot = {}
for k in range(n):
    r = json.load(open(f"{w}/pc.{k}.json"))
    for key, v in r.items():
        tot[key] = v if key == "ops" else tot.get(key, 0) + v
tot["cpu_seconds"] = round(tot["cpu_seconds"], 1)
print(json.dumps(tot))
PY
cat "$WORK/pc.json"

python3 - "$SRC/docs/benchmarks.md" "$WORK/pc.json" "$WORK/tf/summary.json" "$SEED" $((end - start)) <<'PY'
import json, os, platform, subprocess, sys
doc, res, summ, seed, secs = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4], sys.argv[5]
try:
    s = json.load(open(summ))
except Exception:
    s = {}
try:
    rev = subprocess.run(["git", "-C", os.path.dirname(doc), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
except Exception:
    rev = "?"
sec = f"""## DFOTA power-cut enumeration

Every mutating I/O operation (write, fsync, rename, unlink, mkdir, symlink,
chmod/chown, truncate, create) of `modemfw dfota apply` on a realistic update is
a cut point (`bench/dfota-powercut/run.sh`, driver `tests/powercut/driver.c`,
model in `docs/dfota-updater.md`): the updater runs on the simulated backend
until its N-th mutating operation fails; volatile state is dropped (the last
unsynced write dropped, kept whole or torn to half, by N mod 3); the updater is
rerun like the module does (up to 5 attempts in all); the durable root tree
(content, type, mode, uid, gid, link targets) and partitions are compared with
the uncut result (itself checked equal to DST by `tests/integration/dfota-e2e.sh`)
and with the source.

Update: `tests/data/gen-targetfiles.py --seed {seed}` (SRC -> DST: {s.get('rootfs_entries_changed', '300+')} rootfs entries
differ; boot, modem (NON-HLOS.ubi) and MULTIFOTA partitions; preserved user files under
`data/user`), package from `modemfw dfota build`.

| measure | value |
|---|---:|
| mutating operations in one uncut run | {res['ops']} |
| cut points tried | {res['tried']} |
| recovered to target | {res['target']} |
| rolled back to source (with an error code) | {res['source']} |
| other (neither source nor target, or a preserved file changed) | {res['other']} |
| updater reruns after the cuts | {res['reruns']} |
| CPU seconds / wall seconds | {res['cpu_seconds']} / {secs} |

Commit {rev}, {platform.machine()}. No cut leaves the source with an error: the
check pass changes nothing, so a cut before the first change is simply
rerun to the end; "rolled back to source" is reached by refusals (wrong
version 505, wrong source 510, no space 511), which the unit tests cover.
"""
text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n"
start = text.find("## DFOTA power-cut enumeration")
if start >= 0:
    nxt = text.find("\n## ", start + 3)
    text = text[:start] + sec + ("\n" + text[nxt + 1:] if nxt >= 0 else "")
else:
    text = text.rstrip("\n") + "\n\n" + sec
open(doc, "w").write(text)
print("updated", doc)
PY
