#!/bin/sh
# subproject.sh — liberyx built inside another project: add_subdirectory()
# and FetchContent of this source tree, each configured and built in a
# temporary directory, reusing the runtime this build made (no guest build)
# and the cached Wasmtime; hello.c linked against eryx::eryx must run, and
# the parent must get none of the tree's tools, tests or install rules.
# usage: subproject.sh SOURCE_DIR RUNTIME_DIR CC CMAKE
set -u
src=$1 runtime=$2 cc=$3 cmake=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset ERYX_RUNTIME_DIR
gen=
command -v ninja >/dev/null 2>&1 && gen="-G Ninja"
failed=0

for via in add_subdirectory FetchContent; do
  b=$tmp/$via
  # shellcheck disable=SC2086
  if ! "$cmake" -S "$src/tests/pkg/subproject" -B "$b" $gen -DCMAKE_C_COMPILER="$cc" \
       -DCMAKE_BUILD_TYPE=Release -DERYX_SOURCE="$src" -DERYX_VIA=$via \
       -DERYX_BUILD_GUEST=OFF -DERYX_RUNTIME_DIR="$runtime" >"$b.log" 2>&1 ||
     ! "$cmake" --build "$b" --target hello >>"$b.log" 2>&1; then
    cat "$b.log"
    echo "not ok - $via: configure or build failed"
    failed=1
    continue
  fi
  out=$("$b/hello" 2>&1)
  if printf '%s\n' "$out" | grep -q '^result: {"pi": 3.14159}$'; then
    echo "ok - $via: hello runs"
  else
    printf '%s\n' "$out"
    echo "not ok - $via: hello"
    failed=1
  fi
  if "$cmake" --build "$b" --target help 2>/dev/null | grep -Eq 'eryx-cli|test_eryx|eryx_shared'; then
    echo "not ok - $via: the parent project got eryx's tools, tests or packaging"
    failed=1
  fi
  if "$cmake" --install "$b" --prefix "$tmp/prefix-$via" >/dev/null 2>&1 && [ -e "$tmp/prefix-$via" ]; then
    echo "not ok - $via: installing the parent project installed eryx's files"
    failed=1
  fi
done
exit "$failed"
