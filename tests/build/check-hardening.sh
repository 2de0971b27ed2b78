#!/usr/bin/env bash
# Checks that a binary carries the hardening CMakeLists.txt asks for:
#   tests/build/check-hardening.sh BINARY fortify|no-fortify
# * full RELRO: a GNU_RELRO segment and BIND_NOW (the GOT is resolved at
#   start-up, then made read-only);
# * -fstack-protector-strong: the binary calls __stack_chk_fail;
# * -D_FORTIFY_SOURCE=2 (unless no-fortify: Debug, sanitizer and fuzz
#   builds): it calls checked libc variants (__memcpy_chk, __snprintf_chk...).
# Prints one line per property; exits 1 if any is missing.
set -euo pipefail
bin=${1:?usage: $0 BINARY fortify|no-fortify}
mode=${2:-fortify}
fail=0

# check NAME PATTERN TEXT: TEXT must match the extended regex PATTERN.
check() {
  if grep -Eq "$2" <<<"$3"; then
    echo "ok: $1"
  else
    echo "MISSING: $1" >&2
    fail=1
  fi
}

check "GNU_RELRO segment" '^ *GNU_RELRO ' "$(readelf -lW "$bin")"
check "BIND_NOW" '\((FLAGS|FLAGS_1)\).*\b(BIND_NOW|NOW)\b' "$(readelf -dW "$bin")"
syms=$(readelf -sW --dyn-syms "$bin")
check "__stack_chk_fail" '\b__stack_chk_fail\b' "$syms"
if [ "$mode" = fortify ]; then
  check "_FORTIFY_SOURCE (__*_chk symbols)" '\b__[a-z0-9_]+_chk\b' \
    "$(grep -v __stack_chk <<<"$syms")"
fi
exit $fail
