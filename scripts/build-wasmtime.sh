#!/usr/bin/env bash
# Builds Wasmtime's C API as a static library (deps/wasmtime) and prints the
# prefix holding lib/liberyx_wasmtime.a and include/.
#
# The result is cached outside the clone, keyed by a hash of the crate's
# manifest and lock file (which pin the version, features and every
# dependency), so a second build on the same machine, or CI in a fresh clone,
# reuses it instead of spending minutes in cargo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ERYX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eryx}
key=$(cat "$root/deps/wasmtime/Cargo.toml" "$root/deps/wasmtime/Cargo.lock" \
        "$root/deps/wasmtime/build.rs" $(find "$root/deps/wasmtime/src" -name "*.rs" | sort) \
      | sha256sum | cut -c1-16)
prefix=$cache/wasmtime-$key

if [ -f "$prefix/lib/liberyx_wasmtime.a" ] && [ -f "$prefix/include/wasmtime.h" ]; then
  echo "$prefix"
  exit 0
fi

command -v cargo >/dev/null || { echo "build-wasmtime: cargo not found (install Rust >= 1.95)" >&2; exit 1; }
command -v cmake >/dev/null || { echo "build-wasmtime: cmake not found" >&2; exit 1; }

mkdir -p "$cache"
work=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-wasmtime: building Wasmtime's C API (first time only; several minutes)" >&2
(
  cd "$root/deps/wasmtime"
  ERYX_WASMTIME_HEADERS_OUT="$work/include" CARGO_TARGET_DIR="${ERYX_CARGO_TARGET_DIR:-$cache/cargo-target}" \
    cargo build --release --locked >&2
  cp "${ERYX_CARGO_TARGET_DIR:-$cache/cargo-target}/release/liberyx_wasmtime.a" "$work/"
)
mkdir -p "$work/lib"
mv "$work/liberyx_wasmtime.a" "$work/lib/"
rm -rf "$prefix"
mv "$work" "$prefix"
trap - EXIT
echo "$prefix"
