#!/usr/bin/env bash
# Builds the Python side of Eryx into OUT_DIR:
#   OUT_DIR/eryx.wasm   the guest component (CPython 3.14 + guest/eryx_guest,
#                       pre-initialized by componentize-py)
#   OUT_DIR/python/     the stdlib tree that component's CPython was built
#                       with, byte-compiled, to mount read-only at /python
#
# componentize-py comes from PyPI, pinned by hash (deps/requirements-build.txt),
# in a virtualenv cached outside the clone. It must run inside that activated
# venv: componentize-py puts the active site-packages on the guest's path,
# and the build must not see the machine's other packages.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: build-guest.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cache=${ERYX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/eryx}
req=$root/deps/requirements-build.txt
venv=$cache/build-venv-$(sha256sum "$req" | cut -c1-16)

if [ ! -x "$venv/bin/componentize-py" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$req"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"

# 1. The stdlib tree, copied out by a throwaway component (see
#    guest/stdlib_export/eryx_stdlib_export.py).
stage=$(mktemp -d "$out/stdlib-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
touch "$stage/.eryx-stdlib-out"
componentize-py -q -d "$root/guest/wit" -w sandbox componentize eryx_stdlib_export \
  -p "$root/guest/stdlib_export" -p "$stage" -o "$stage/discard.wasm"
rm -rf "$out/python"
mv "$stage/python" "$out/python"

# 2. The guest component itself.
componentize-py -q -d "$root/guest/wit" -w sandbox componentize eryx_guest \
  -p "$root/guest" -o "$out/eryx.wasm.tmp"
mv "$out/eryx.wasm.tmp" "$out/eryx.wasm"

# 3. What a factory (src/factory.c) needs to build the guest again with
#    packages: the guest's sources, its WIT, and the pure-Python packages
#    the guest imports from the build venv (dill), in one tree passed to
#    componentize-py with -p.
rm -rf "$out/guest.tmp"
mkdir -p "$out/guest.tmp"
cp -r "$root/guest/wit" "$out/guest.tmp/wit"
(cd "$root/guest" && find eryx_guest -name "*.py" -exec install -D -m 0644 {} "$out/guest.tmp/{}" \;)
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cp -r "$site/dill" "$out/guest.tmp/dill"
find "$out/guest.tmp" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "$out/guest"
mv "$out/guest.tmp" "$out/guest"
