#!/bin/sh
# Run the whole meson test suite in BUILD and end with "N passed, N failed".
# Exit status: 0 only when nothing failed.
set -u
BUILD=${1:-build-asan}
shift 2>/dev/null || true
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@"
rc=$?
log="$BUILD/meson-logs/testlog.json"
if [ ! -f "$log" ]; then
	echo "0 passed, 1 failed"
	exit 1
fi
python3 - "$log" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
extra = f", {skipped} skipped" if skipped else ""
print(f"{passed} passed, {failed} failed{extra}")
sys.exit(1 if failed else 0)
PY
py=$?
[ $rc -ne 0 ] && [ $py -eq 0 ] && exit $rc
exit $py
