#!/usr/bin/env bash
# Fails when a C file differs from what clang-format makes of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
for f in src/*.[ch] tests/unit/*.c tests/provider-server/*.[ch] tests/kafka/*.c bench/*.c fuzz/*.c; do
  [ -e "$f" ] || continue
  if ! clang-format --style=file "$f" | cmp -s - "$f"; then
    echo "not formatted: $f (run: clang-format -i $f)" >&2
    bad=1
  fi
done
exit $bad
