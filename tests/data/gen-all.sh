#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
#
# Generate the sample packages into OUTDIR:
#   OUTDIR/nand   OUTDIR/emmc   OUTDIR/em12g   (+ .zip of nand and emmc)
# Usage: tests/data/gen-all.sh OUTDIR [demo|small|bench] [SEED]
# Reuses a package whose expected.json already records the same profile and
# seed (delete OUTDIR to force a rebuild).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [demo|small|bench] [SEED]" >&2; exit 2; }
out=$1
profile=${2:-demo}
seed=${3:-1}
mkdir -p "$out"

fresh() {	# fresh DIR PROFILE: the package exists for this profile and seed
	[ -f "$1/expected.json" ] && [ -f "$1/md5.txt" ] &&
		grep -q "\"profile\": \"$2\"" "$1/expected.json" &&
		grep -q "\"seed\": $seed," "$1/expected.json"
}

for storage in nand emmc; do
	if fresh "$out/$storage" "$profile"; then
		echo "$out/$storage: up to date"
	else
		"$PYTHON" "$here/gen-package.py" --storage "$storage" --profile "$profile" \
			--seed "$seed" --out "$out/$storage" --zip "$out/$storage.zip"
	fi
done
if fresh "$out/em12g" em12g; then
	echo "$out/em12g: up to date"
else
	"$PYTHON" "$here/em12g-package.py" --seed "$seed" --out "$out/em12g"
fi
