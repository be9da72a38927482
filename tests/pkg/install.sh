#!/bin/sh
# install.sh — liberyx as C users get it: `cmake --install` of this build
# into a temporary prefix, then examples/hello.c built against the prefix
# with the system compiler, four ways, each run with no ERYX_RUNTIME_DIR:
#   pkg-config eryx          liberyx.so (rpath to the prefix)
#   pkg-config eryx-static   liberyx.a, system libraries shared
#   CMake package            eryx::eryx and eryx::eryx_static
# and the install itself: layout, SONAME and links, the runtime directory
# written into both libraries (with the runtime moved away they fail naming
# it, and ERYX_RUNTIME_DIR still overrides it).
# usage: install.sh BUILD_DIR SOURCE_DIR CC CMAKE
set -u
build=$1 src=$2 cc=$3 cmake=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset ERYX_RUNTIME_DIR
prefix=$tmp/prefix
runtime=$prefix/share/eryx/runtime
hello=$src/examples/hello.c
passed=0 failed=0

check() { # name, then a command that must succeed
  name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1)); echo "ok - $name"
  else
    failed=$((failed + 1)); echo "not ok - $name"; cat "$tmp/out"
  fi
}
runs_hello() { # the program prints hello.c's result
  out=$("$1" 2>&1); rc=$?
  printf '%s\n' "$out"
  [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q '^result: {"pi": 3.14159}$'
}
needs_liberyx_so() { readelf -d "$1" | grep -q 'NEEDED.*\[liberyx\.so\.0\]'; }
no_liberyx_so() { ! readelf -d "$1" | grep -q 'NEEDED.*liberyx'; }

if ! "$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "not ok - cmake --install"
  exit 1
fi
echo "ok - cmake --install into $prefix"

lib=$prefix/lib
soname=$(readelf -d "$lib/liberyx.so.0.1.0" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
check "liberyx.so.0.1.0 has SONAME liberyx.so.0 ($soname)" test "$soname" = liberyx.so.0
check "liberyx.so -> liberyx.so.0 -> liberyx.so.0.1.0" \
  test "$(readlink "$lib/liberyx.so")" = liberyx.so.0 \
  -a "$(readlink "$lib/liberyx.so.0")" = liberyx.so.0.1.0
check "the header, liberyx.a, eryx.pc, eryx-static.pc and the CMake package are there" \
  test -f "$prefix/include/eryx.h" -a -f "$lib/liberyx.a" -a -f "$lib/pkgconfig/eryx.pc" \
  -a -f "$lib/pkgconfig/eryx-static.pc" -a -f "$lib/cmake/eryx/eryx-config.cmake" \
  -a -f "$lib/cmake/eryx/eryx-config-version.cmake"
check "the runtime files are there" test -f "$runtime/eryx.cwasm" -a -f "$runtime/eryx-fuel.cwasm" \
  -a -d "$runtime/python" -a -d "$runtime/guest"
check "both libraries hold the installed runtime directory, not the build's" sh -c '
  for f in "$1/liberyx.so.0.1.0" "$1/liberyx.a"; do
    grep -aq "eryx-default-runtime-dir:$2" "$f" || exit 1
    ! grep -aq "eryx-default-runtime-dir:$3" "$f" || exit 1
  done' sh "$lib" "$runtime" "$build/runtime"

PKG_CONFIG_PATH=$lib/pkgconfig
export PKG_CONFIG_PATH
# shellcheck disable=SC2046
check "pkg-config eryx: hello.c builds" \
  "$cc" -Wall -Wextra -Werror -o "$tmp/hello-pc" "$hello" $(pkg-config --cflags --libs eryx) \
  -Wl,-rpath,"$lib"
check "pkg-config eryx: hello runs against liberyx.so" runs_hello "$tmp/hello-pc"
check "pkg-config eryx: it needs liberyx.so.0" needs_liberyx_so "$tmp/hello-pc"
# shellcheck disable=SC2046
check "pkg-config eryx-static: hello.c builds" \
  "$cc" -Wall -Wextra -Werror -o "$tmp/hello-pc-static" "$hello" \
  $(pkg-config --cflags --libs eryx-static)
check "pkg-config eryx-static: hello runs" runs_hello "$tmp/hello-pc-static"
check "pkg-config eryx-static: no liberyx.so needed" no_liberyx_so "$tmp/hello-pc-static"
check "pkg-config --static eryx names what liberyx.a needs" sh -c '
  libs=" $(pkg-config --static --libs eryx) "
  for l in -leryx -ljansson -larchive -lssl -lcrypto -lz -lpthread -ldl -lm; do
    case "$libs" in *" $l "*) ;; *) echo "missing $l in$libs"; exit 1 ;; esac
  done'

gen=
command -v ninja >/dev/null 2>&1 && gen="-G Ninja"
# shellcheck disable=SC2086
check "CMake package: the consumer configures and builds" sh -c '
  "$1" -S "$2/tests/pkg/consumer" -B "$3" $4 -DCMAKE_C_COMPILER="$5" \
    -DCMAKE_PREFIX_PATH="$6" -DERYX_EXAMPLE="$7" && "$1" --build "$3"' \
  sh "$cmake" "$src" "$tmp/consumer" "$gen" "$cc" "$prefix" "$hello"
check "CMake package: eryx::eryx runs" runs_hello "$tmp/consumer/hello_shared"
check "CMake package: eryx::eryx needs liberyx.so.0" needs_liberyx_so "$tmp/consumer/hello_shared"
check "CMake package: eryx::eryx_static runs" runs_hello "$tmp/consumer/hello_static"
check "CMake package: eryx::eryx_static needs no liberyx.so" no_liberyx_so "$tmp/consumer/hello_static"

mv "$runtime" "$runtime.moved"
for p in hello-pc hello-pc-static; do
  check "$p without its runtime fails, naming $runtime" sh -c '
    ! "$1" >/dev/null 2>"$2" && grep -q "$3" "$2"' sh "$tmp/$p" "$tmp/err" "$runtime"
  ERYX_RUNTIME_DIR=$runtime.moved
  export ERYX_RUNTIME_DIR
  check "$p runs with ERYX_RUNTIME_DIR=$runtime.moved" runs_hello "$tmp/$p"
  unset ERYX_RUNTIME_DIR
done
mv "$runtime.moved" "$runtime"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
