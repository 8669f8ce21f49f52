#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 The modemfw authors
# Self-test of the sample-package generators in tests/data/ (no modemfw
# binary involved): small NAND, eMMC and EM12-G packages are generated and
# checked byte by byte, and check-image.py is run on simulated flashes.
set -eu
: "${SRCDIR:?run through meson test}"
SHARED=${SHARED:-$SRCDIR/../shared}
export SHARED
exec sh "$SRCDIR/tests/data/selftest.sh"
