#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# Flash throughput over the USB rig, modemfw against Debian's qdl
# (docs/usb-rig.md; results go into docs/benchmarks.md by hand).
#   tests/usb/bench.sh OUT      MODEMFW=... as for run.sh
# Prints a markdown table. The package: the small eMMC sample package plus a
# 32 MiB random partition image and a manifest that writes only that.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
OUT=${1:?usage: bench.sh OUT}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/pkg-bench"
python3 "$SRC/tests/data/gen-package.py" --storage emmc --profile small --out "$OUT/pkg-bench" \
	>/dev/null
FH="$OUT/pkg-bench/update/firehose"
head -c $((32 << 20)) /dev/urandom >"$FH/bench.bin"
# start_sector of the modem partition in the sample GPT (157696), 65536 sectors
cat >"$FH/rawprogram-bench.xml" <<'XML'
<?xml version="1.0" ?>
<data>
  <program SECTOR_SIZE_IN_BYTES="512" file_sector_offset="0" filename="bench.bin" label="bench" num_partition_sectors="65536" physical_partition_number="0" sparse="false" start_sector="157696"/>
</data>
XML
rc=0
sh "$HERE/run.sh" -t 400 "$OUT" "$HERE/guest-bench.sh" || rc=$?
echo "| tool | payload | wall | program phase | throughput (program) |"
echo "|---|---|---|---|---|"
grep -a "MFW-BENCH:" "$OUT/console.log" | tr -d '\r' | while read -r _ a b c d e; do
	tool=${a#tool=} p=${b#payload=} bytes=${c#bytes=} wall=${d#wall_ms=} prog=${e#program_ms=}
	awk -v t="$tool" -v p="$p" -v b="$bytes" -v w="$wall" -v m="$prog" 'BEGIN {
		printf "| %s | %d KiB | %.1f s | %.2f s | %.1f MiB/s |\n", t, p / 1024, w / 1000,
			m / 1000, (m > 0 ? b / 1048576 / (m / 1000) : 0) }'
done
exit $rc
