#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Fault-matrix soak (issue 4): thousands of seeded trials of
# tests/faults/matrix.c (transport faults plus, for half of the trials, one
# device-side fault of the virtual modem), counts recorded in the
# "## Fault matrix soak" section of docs/benchmarks.md.
#
#   bench/flash/soak.sh [--trials N] [--seed S] [--jobs J] [--no-write]
#
# J processes run N/J trials each, with seeds S, S+1, ... (a failing trial
# is replayed with the seed and trial number it prints). make test runs 200
# trials with one fixed seed (tests/integration/fault-matrix.sh).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
WORK=${WORK:-/dev/shm/mfw-soak}
TRIALS=2000
SEED=4
JOBS=2
WRITE=1
while [ $# -gt 0 ]; do
	case $1 in
	--trials) TRIALS=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--jobs) JOBS=$2; shift 2 ;;
	--no-write) WRITE=0; shift ;;
	*) echo "usage: $0 [--trials N] [--seed S] [--jobs J] [--no-write]" >&2; exit 2 ;;
	esac
done

mkdir -p "$WORK"
. "$ROOT/bench/flash/lib.sh"
PKG=$(bench_package small)
bench_build tests/faults/fault-matrix
MATRIX=$BUILD/tests/faults/fault-matrix

PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

t0=$(date +%s)
per=$(( (TRIALS + JOBS - 1) / JOBS ))
j=0
while [ $j -lt "$JOBS" ]; do
	rm -rf "$WORK/job$j"
	mkdir -p "$WORK/job$j"
	"$MATRIX" "$PKG" "$WORK/job$j" "$per" $((SEED + j)) >"$WORK/job$j.log" 2>&1 &
	PIDS="$PIDS $!"
	j=$((j + 1))
done
rc=0
for p in $PIDS; do wait "$p" || rc=1; done
PIDS=""
t1=$(date +%s)

MFW_BENCH_DIR="$ROOT/bench" python3 - "$WORK" "$JOBS" "$SEED" "$per" "$((t1 - t0))" "$WRITE" "$ROOT/docs/benchmarks.md" <<'EOF'
import datetime, os, re, sys
work, jobs, seed, per, secs, write, md = sys.argv[1:8]
jobs, seed, per, secs = int(jobs), int(seed), int(per), int(secs)
tot = dict(trials=0, direct=0, recovered=0, rerun=0, failed=0, dev=0, bad=0)
fails = []
for j in range(jobs):
    text = open(os.path.join(work, f"job{j}.log")).read()
    m = re.search(r"fault matrix: (\d+) trials: (\d+) completed despite the faults \((\d+) via "
                  r"automatic recovery\), (\d+) stopped with a named fault and completed on re-run, "
                  r"(\d+) failed", text)
    if not m:
        fails.append(f"seed {seed + j}: the driver did not finish: {text.strip().splitlines()[-1:]}")
        continue
    for k, v in zip(("trials", "direct", "recovered", "rerun", "failed"), m.groups()):
        tot[k] += int(v)
    m = re.search(r"(\d+) trials had a device-side fault as well \((\d+) grew a bad block\)", text)
    if m:
        tot["dev"] += int(m[1]); tot["bad"] += int(m[2])
    for ln in text.splitlines():
        if ln.startswith("trial ") and ": pass in" not in ln:
            fails.append(f"seed {seed + j}, {ln}")
seeds = ", ".join(str(seed + j) for j in range(jobs))
section = f"""## Fault matrix soak

`bench/flash/soak.sh` (issue 4): `tests/faults/matrix.c` trials against the in-process virtual
modem (small NAND package, release build), each with 1-3 transport faults (stall, dropped or
corrupted byte either way, disconnect + power cycle) and, in half of the trials, one device-side
fault of the emulator's schedule (nak of a program/erase/digest, log flood, slow final ACK, grown
bad block, silent device, lost HELLO). A trial passes when the flash succeeds with storage identical
to a fault-free flash (with the same grown bad blocks), or fails within its deadline with a message
naming the fault and a plain re-run then succeeds. {datetime.date.today().isoformat()}, {jobs} jobs x {per} trials,
seeds {seeds}, {secs // 60} min {secs % 60} s.

| Trials | Completed despite the faults | … via automatic recovery | Named failure, re-run completed | With a device-side fault | Grew a bad block | Failed |
|---|---|---|---|---|---|---|
| {tot['trials']} | {tot['direct']} | {tot['recovered']} | {tot['rerun']} | {tot['dev']} | {tot['bad']} | {tot['failed']} |
"""
if fails:
    section += "\nFailures (replay: `fault-matrix PKG WORK TRIALS SEED --verbose`):\n\n"
    section += "".join(f"- {f}\n" for f in fails[:20])
    if len(fails) > 20:
        section += f"- … {len(fails) - 20} more\n"
section += """
Reproduce:

```
nice bench/flash/soak.sh            # --trials 2000 --seed 4 --jobs 2, --no-write (print only)
```
"""
print(section)
if write == "1":
    sys.path.insert(0, os.environ["MFW_BENCH_DIR"])
    from mdsection import replace_section
    replace_section(md, "Fault matrix soak", section)
    print(f"wrote the Fault matrix soak section of {md}")
EOF
exit $rc
