#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Flash throughput over the rig (docs/usb-rig.md, docs/benchmarks.md): one
# 32 MiB partition written by modemfw and by Debian's qdl, with the device
# accepting payloads of 1 MiB, 64 KiB and 16 KiB. Run in the guest by
# tests/usb/bench.sh; prints one line per run:
#   MFW-BENCH: tool=T payload=P bytes=N wall_ms=W program_ms=M
. "$(dirname "$0")/guest-lib.sh"
FH="$OUT/pkg-bench/update/firehose"
BYTES=$(stat -c %s "$FH/bench.bin")
start_udevd
load_driver qcserial

for p in 1048576 65536 16384; do
	for tool in modemfw qdl; do
		rm -rf "$OUT/bench.img"*
		device start --storage emmc --image "$OUT/bench.img" --max-payload $p
		wait_usb 05c6 9008 20 >/dev/null || fail "bench: no device"
		log="$OUT/bench-$tool-$p.log"
		t0=$(t_ms)
		rc=0
		if [ $tool = modemfw ]; then
			"$MODEMFW" flash "$OUT/pkg-bench" -p usb --manifest rawprogram-bench.xml \
				--no-md5 --no-backup --verify none --restart --max-payload $p \
				--journal-dir "$OUT/j-bench" >"$log" 2>&1 || rc=$?
		else
			(cd "$FH" && timeout 200 qdl --storage emmc prog_emmc_firehose_8953_ddr.mbn \
				rawprogram-bench.xml) >"$log" 2>&1 || rc=$?
		fi
		t1=$(t_ms)
		device stop
		[ $rc = 0 ] || { tail -3 "$log"; say "bench: $tool at payload $p exited $rc"; continue; }
		# the tools' own timing of the partition write, where they print one
		if [ $tool = modemfw ]; then
			prog=$(sed -n 's/^program bench: .* in \([0-9.]*\) s .*/\1/p' "$log" |
				awk '{ printf "%d", $1 * 1000 }')
		else
			kbs=$(sed -n 's/.*flashed "bench" successfully at \([0-9]*\)kB\/s.*/\1/p' "$log")
			prog=$(awk -v b="$BYTES" -v k="${kbs:-0}" 'BEGIN { if (k > 0) printf "%d", b / 1024 / k * 1000 }')
		fi
		echo "MFW-BENCH: tool=$tool payload=$p bytes=$BYTES wall_ms=$((t1 - t0)) program_ms=${prog:-0}"
	done
done
