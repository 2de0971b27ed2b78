#!/usr/bin/env bash
# Runs every unit test program under valgrind memcheck; any error or
# definite leak fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
fail=0
for t in "$BUILD"/test_*; do
  [ -x "$t" ] || continue
  if valgrind --quiet --error-exitcode=99 --leak-check=full \
       --errors-for-leak-kinds=definite "$t" >/dev/null 2>"$t.valgrind"; then
    echo "valgrind ok: $(basename "$t")"
  else
    echo "valgrind FAILED: $(basename "$t")" >&2
    cat "$t.valgrind" >&2
    fail=1
  fi
done
exit $fail
