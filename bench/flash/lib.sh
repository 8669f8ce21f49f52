# SPDX-License-Identifier: BSD-3-Clause
# Shared by the flash benchmarks (run.sh, soak.sh); needs ROOT, BUILD and WORK.

# bench_package PROFILE: the NAND sample package of that profile, generated
# once into $WORK (the generator is deterministic); prints its directory
bench_package() {
	pkg=$WORK/pkg-nand-$1
	if [ ! -f "$pkg/.done" ]; then
		rm -rf "$pkg"
		echo "generating the $1 package in $pkg ..." >&2
		python3 "$ROOT/tests/data/gen-package.py" --storage nand --profile "$1" --out "$pkg" \
			>"$WORK/gen.log" || { cat "$WORK/gen.log" >&2; exit 1; }
		touch "$pkg/.done"
	fi
	echo "$pkg"
}

# bench_build TARGET: TARGET built in the release build dir $BUILD
bench_build() {
	[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" --buildtype=release >"$WORK/setup.log"
	ninja -C "$BUILD" "$1" >"$WORK/build.log"
}
