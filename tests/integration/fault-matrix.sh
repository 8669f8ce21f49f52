#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Issue 4's fault matrix in make test: 200 seeded random trials, each with
# 1-3 faults; see tests/faults/matrix.c for the pass rule. A different seed
# each day would make failures hard to reproduce: the seed is fixed here and
# bench/flash/soak.sh runs thousands with other seeds.
. "$SRCDIR/tests/integration/lib.sh"
PKG=$(gen_pkg nand small)
"$BUILDDIR/tests/faults/fault-matrix" "$PKG" "$WORK" "${MFW_FAULT_TRIALS:-200}" "${MFW_FAULT_SEED:-20261121}" ||
	fail "fault matrix"
