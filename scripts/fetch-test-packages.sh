#!/usr/bin/env bash
# Puts the real packages the package tests use (pinned by hash in
# python/tests/packages-requirements.txt and packages-native-requirements.txt)
# into the cache once and prints that directory. Later runs print it at once.
# When the package index cannot be reached, prints nothing and exits 0 (the
# tests then skip, saying why); any other failure (a hash mismatch, say) is
# an error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req=$root/python/tests/packages-requirements.txt
native=$root/python/tests/packages-native-requirements.txt
py=${PYTHON:-python3}
cache=${ERYX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eryx}
key=$(cat "$req" "$native" | sha256sum | cut -c1-16)
dest=$cache/test-packages/$key
if [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi

# The index pip would use (PIP_INDEX_URL, pip's configuration, else PyPI).
index=${PIP_INDEX_URL:-$("$py" -m pip config get global.index-url 2>/dev/null || true)}
index=${index:-https://pypi.org/simple}
if ! "$py" - "$index" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(sys.argv[1].rstrip("/") + "/six/", timeout=15).read(1)
PY
  echo "fetch-test-packages: $index unreachable; the package tests will be skipped" >&2
  exit 0
fi

mkdir -p "$cache/test-packages"
work=$(mktemp -d "$cache/test-packages/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$py" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
  -r "$req" -d "$work/out" >&2
"$py" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
  --only-binary :all: --platform manylinux2014_x86_64 --python-version 3.14 \
  --implementation cp --abi cp314 -r "$native" -d "$work/out" >&2
touch "$work/out/.complete"
rm -rf "$dest"
mv "$work/out" "$dest" 2>/dev/null || [ -f "$dest/.complete" ]
echo "$dest"
