#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
#
# The whole USB rig (docs/usb-rig.md): sample packages, one VM boot running
# tests/usb/guest-scenarios.sh, then the image checks on the host.
#   tests/usb/rig.sh [-t SECONDS] OUT
# MODEMFW names the modemfw binary (default build/cli/modemfw);
# MFW_RIG_ONLY=libusb,qdl runs only those scenarios.
# Exit 0 when every scenario and check passed, 77 without QEMU.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
LIMIT=300
if [ "${1:-}" = "-t" ]; then
	LIMIT=$2
	shift 2
fi
OUT=${1:?usage: rig.sh [-t SECONDS] OUT}
command -v qemu-system-x86_64 >/dev/null || { echo "rig: no qemu-system-x86_64: skipped"; exit 77; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

python3 "$SRC/tests/data/gen-package.py" --storage nand --profile small --out "$OUT/pkg-nand" \
	>"$OUT/gen-nand.log" 2>&1 || { cat "$OUT/gen-nand.log"; exit 1; }
python3 "$SRC/tests/data/gen-package.py" --storage emmc --profile small --out "$OUT/pkg-emmc" \
	>"$OUT/gen-emmc.log" 2>&1 || { cat "$OUT/gen-emmc.log"; exit 1; }
python3 "$HERE/qdl-manifest.py" "$OUT/pkg-emmc/update/firehose" rawprogram0.xml \
	rawprogram0-qdl.xml
rm -rf "$OUT"/*.img "$OUT"/*.img.*

rc=0
sh "$HERE/run.sh" -t "$LIMIT" "$OUT" "$HERE/guest-scenarios.sh" || rc=$?
grep -a "MFW-RIG" "$OUT/console.log" | tr -d '\r' || true
[ $rc = 0 ] || { echo "rig: guest scenarios exited $rc (logs in $OUT)"; exit 1; }
sh "$HERE/check-results.sh" "$OUT" || { echo "rig: image checks failed (logs in $OUT)"; exit 1; }
echo "rig: all USB scenarios passed"
