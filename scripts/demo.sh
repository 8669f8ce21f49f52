#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# make demo: generate the sample NAND package, start the virtual modem on a
# local TCP port, flash the package into it with progress, stop the modem,
# check every byte of its storage image, and print the result.
set -eu
BUILD=${1:-build}
SRC=$(cd "$(dirname "$0")/.." && pwd)
MODEMFW="$BUILD/cli/modemfw"
DEMO="$BUILD/demo"
EMU_PID=""
cleanup() { [ -n "$EMU_PID" ] && kill -KILL "$EMU_PID" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

mkdir -p "$DEMO"
# the demo's journal and backups stay with the demo (a fresh virtual modem each time)
rm -rf "$DEMO/state" "$DEMO/data"
export XDG_STATE_HOME="$DEMO/state" XDG_DATA_HOME="$DEMO/data"
echo "== 1/4 generating a sample EC25-like NAND firmware package (real UBI images, our own fake programmer)"
if [ ! -f "$DEMO/pkg/.done" ]; then
	rm -rf "$DEMO/pkg"
	python3 "$SRC/tests/data/gen-package.py" --storage nand --profile demo --out "$DEMO/pkg" >"$DEMO/gen.log" 2>&1 ||
		{ cat "$DEMO/gen.log"; exit 1; }
	touch "$DEMO/pkg/.done"
fi
du -sh "$DEMO/pkg" | sed 's/^/   package size: /'

echo "== 2/4 starting the virtual modem (NAND 512 MiB, p4K_b256K, factory image with efs2/IMEI)"
rm -rf "$DEMO/nand.img" "$DEMO/nand.img".*
"$MODEMFW" emu --storage nand --image "$DEMO/nand.img" --listen tcp:127.0.0.1:0 >"$DEMO/emu.log" 2>&1 &
EMU_PID=$!
i=0
until grep -q "listening on" "$DEMO/emu.log"; do
	i=$((i + 1)); [ $i -gt 100 ] && { cat "$DEMO/emu.log"; echo "virtual modem did not start"; exit 1; }
	sleep 0.1
done
PORT=$(sed -n 's/.*listening on \([^ ,]*\).*/\1/p' "$DEMO/emu.log" | head -1)
echo "   $(head -1 "$DEMO/emu.log")"
cp --sparse=always "$DEMO/nand.img" "$DEMO/before.img"

echo "== 3/4 modemfw flash $DEMO/pkg -p $PORT"
"$MODEMFW" flash "$DEMO/pkg" -p "$PORT"
kill -TERM "$EMU_PID"
wait "$EMU_PID" || { echo "virtual modem did not exit cleanly"; exit 1; }
EMU_PID=""

echo "== 4/4 checking the virtual modem's storage byte by byte"
python3 "$SRC/tests/data/check-image.py" --expected "$DEMO/pkg/expected.json" --image "$DEMO/nand.img" \
	--storage nand --before "$DEMO/before.img"
echo
echo "RESULT: the sample package was flashed into the virtual modem and verified:"
echo "        every image at its manifest sectors, erased pages elsewhere, efs2 (IMEI) untouched."
