#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
#
# Self-test of the sample-package generators: builds small NAND, eMMC and
# EM12-G packages in a temporary directory and checks them (selftest.py).
# Usage: tests/data/selftest.sh [WORKDIR]   (default: a fresh mktemp -d,
# removed on success). Needs python3 and mtd-utils (mkfs.ubifs, ubinize).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
if ! command -v mkfs.ubifs >/dev/null 2>&1 && [ ! -x /usr/sbin/mkfs.ubifs ]; then
	echo "selftest: mkfs.ubifs not found: install the Debian package mtd-utils" \
		"(scripts/install-deps.sh)" >&2
	exit 1
fi
if [ $# -gt 0 ]; then
	work=$1
	keep=1
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/modemfw-data-selftest.XXXXXX")
	keep=0
fi
set +e
if [ -n "${SHARED:-}" ]; then
	"$PYTHON" "$here/selftest.py" "$work" --shared "$SHARED"
else
	"$PYTHON" "$here/selftest.py" "$work"
fi
rc=$?
set -e
if [ $rc -eq 0 ] && [ $keep -eq 0 ]; then
	rm -rf "$work"
elif [ $rc -ne 0 ]; then
	echo "selftest: failed; packages kept in $work" >&2
fi
exit $rc
