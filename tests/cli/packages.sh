#!/usr/bin/env bash
# CLI tests of packages: --package (wheels, sdists, directories), refusals
# (exit 4, the reason on stderr), `eryx runtime build` and --runtime.
# usage: packages.sh PATH/TO/eryx [PACKAGES_DIR]
# PACKAGES_DIR is what scripts/fetch-test-packages.sh prints; without it (the
# package index unreachable) the cases with real packages are skipped, and
# said so.
set -u
eryx=${1:?usage: packages.sh PATH/TO/eryx [PACKAGES_DIR]}
pkgdir=${2:-}
passed=0 failed=0 skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ERYX_CACHE_DIR=$tmp/cache

check() { # name, condition result (0 = ok)
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok - $1" >&2
  else failed=$((failed + 1)); echo "not ok - $1" >&2
    sed 's/^/#   stderr: /' "$tmp/e" 2>/dev/null | head -20 >&2; fi
}

one() { # the one file in $pkgdir matching a glob
  local hits=("$pkgdir"/$1)
  if [ "${#hits[@]}" -ne 1 ] || [ ! -f "${hits[0]}" ]; then
    echo "packages.sh: expected one $1 in $pkgdir" >&2; exit 1
  fi
  echo "${hits[0]}"
}

# No cached tree of the archive $1 (named by its sha256) in the cache.
not_cached() { [ ! -e "$ERYX_CACHE_DIR/packages/v1/$(sha256sum "$1" | cut -d' ' -f1)" ]; }

# ---- a local directory package and a site-packages-like directory
mkdir -p "$tmp/src/helpers" "$tmp/site/sitemod-1.0.dist-info"
printf 'def shout(s):\n    return s.upper() + "!"\n' >"$tmp/src/helpers/__init__.py"
printf 'VALUE = 42\n' >"$tmp/site/sitemod.py"
printf 'Metadata-Version: 2.1\nName: sitemod\nVersion: 1.0\n' \
  >"$tmp/site/sitemod-1.0.dist-info/METADATA"

out=$("$eryx" --package "$tmp/src/helpers" -c 'import helpers; print(helpers.shout("hi"))' 2>"$tmp/e"); rc=$?
check "--package DIR with __init__.py is importable by its name" \
  $([ "$rc" -eq 0 ] && [ "$out" = "HI!" ]; echo $?)

out=$("$eryx" --package "$tmp/site" -c 'import sitemod, importlib.metadata as md
print(sitemod.VALUE, md.version("sitemod"))' 2>"$tmp/e"); rc=$?
check "--package DIR of a site tree, with its metadata" \
  $([ "$rc" -eq 0 ] && [ "$out" = "42 1.0" ]; echo $?)

out=$("$eryx" --package "$tmp/src/helpers" -c 'import helpers
try:
    open(helpers.__file__, "a").write("x")
    print("written")
except OSError as e:
    print("refused")' 2>"$tmp/e"); rc=$?
check "--package DIR is mounted read-only" \
  $([ "$rc" -eq 0 ] && [ "$out" = "refused" ] && ! grep -q x "$tmp/src/helpers/__init__.py"; echo $?)

printf 'import helpers, sitemod\nprint(helpers.shout("s"), sitemod.VALUE)\n' >"$tmp/s.py"
out=$("$eryx" --package "$tmp/src/helpers" --package "$tmp/site" run "$tmp/s.py" 2>"$tmp/e"); rc=$?
check "--package DIR --package DIR run FILE" $([ "$rc" -eq 0 ] && [ "$out" = "S! 42" ]; echo $?)

out=$(printf 'import helpers\nprint(helpers.shout("in"))\n' | "$eryx" --package "$tmp/src/helpers" 2>"$tmp/e"); rc=$?
check "--package with code from stdin" $([ "$rc" -eq 0 ] && [ "$out" = "IN!" ]; echo $?)

"$eryx" -c 'import helpers' >/dev/null 2>"$tmp/e"; rc=$?
check "without --package the module is not there" \
  $([ "$rc" -eq 1 ] && grep -q ModuleNotFoundError "$tmp/e"; echo $?)

"$eryx" --package >/dev/null 2>"$tmp/e"; rc=$?
check "--package without a PATH exits 2" $([ "$rc" -eq 2 ] && grep -q -- "--package needs" "$tmp/e"; echo $?)

# ---- refusals of archives crafted here: exit 4, the reason on stderr
python3 - "$tmp" <<'PY'
import sys, zipfile, tarfile, io
d = sys.argv[1]
def wheel(path, extra):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("evil/__init__.py", "")
        z.writestr("evil-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
        z.writestr("evil-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("evil-1.0.dist-info/RECORD", "")
        for name, data in extra:
            z.writestr(name, data)
wheel(d + "/evil-1.0-py3-none-any.whl", [("../../../../../../../../tmp/eryx-cli-slip.py", "x = 1\n")])
with tarfile.open(d + "/linky.tar.gz", "w:gz") as t:
    i = tarfile.TarInfo("linky/etc"); i.type = tarfile.SYMTYPE; i.linkname = "/etc"
    t.addfile(i)
PY

"$eryx" --package "$tmp/evil-1.0-py3-none-any.whl" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
check "zip-slip wheel: exit 4 naming the file and the member" \
  $([ "$rc" -eq 4 ] && [ ! -s "$tmp/o" ] && grep -qF "package $tmp/evil-1.0-py3-none-any.whl: " "$tmp/e" \
    && grep -qF "../../../../../../../../tmp/eryx-cli-slip.py" "$tmp/e" \
    && [ ! -e /tmp/eryx-cli-slip.py ] && not_cached "$tmp/evil-1.0-py3-none-any.whl"; echo $?)

"$eryx" --package "$tmp/linky.tar.gz" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
check "symlink to /etc in a tarball: exit 4 naming the member" \
  $([ "$rc" -eq 4 ] && grep -qF "package $tmp/linky.tar.gz: " "$tmp/e" && grep -q "linky/etc" "$tmp/e" \
    && not_cached "$tmp/linky.tar.gz"; echo $?)

"$eryx" --package "$tmp/no-such-1.0-py3-none-any.whl" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
check "a missing package fails naming it" \
  $([ "$rc" -ne 0 ] && [ ! -s "$tmp/o" ] && grep -qF "$tmp/no-such-1.0-py3-none-any.whl" "$tmp/e"; echo $?)

# ---- real packages
if [ -n "$pkgdir" ]; then
  attrs=$(one 'attrs-*.whl')
  jinja=$(one 'jinja2-*.whl')
  msafe=$(one 'markupsafe-*.tar.gz')
  linux=$(one 'markupsafe-*manylinux*.whl')

  out=$("$eryx" --package "$attrs" -c 'import attrs
@attrs.define
class P:
    x: int
print(P(1))' 2>"$tmp/e"); rc=$?
  check "--package WHEEL (attrs)" $([ "$rc" -eq 0 ] && [ "$out" = "P(x=1)" ]; echo $?)

  out=$("$eryx" --package "$jinja" --package "$msafe" -c 'import jinja2
print(jinja2.Environment(autoescape=True).from_string("{{ x }}").render(x="<a&b>"))' 2>"$tmp/e"); rc=$?
  check "--package WHEEL --package SDIST (jinja2 + markupsafe)" \
    $([ "$rc" -eq 0 ] && [ "$out" = "&lt;a&amp;b&gt;" ]; echo $?)

  "$eryx" --package "$linux" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
  check "manylinux wheel: exit 4, the reason on stderr" \
    $([ "$rc" -eq 4 ] && [ ! -s "$tmp/o" ] && grep -qF "package $linux: " "$tmp/e" \
      && grep -q "native code for linux-x86_64 cannot run in a WASI sandbox" "$tmp/e" \
      && not_cached "$linux"; echo $?)

  head -c $(( $(stat -c %s "$jinja") / 2 )) "$jinja" >"$tmp/$(basename "$jinja")"
  "$eryx" --package "$tmp/$(basename "$jinja")" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
  check "truncated wheel: exit 4, corrupt or truncated" \
    $([ "$rc" -eq 4 ] && grep -q "corrupt or truncated" "$tmp/e" \
      && not_cached "$tmp/$(basename "$jinja")"; echo $?)
  build_pkgs=(--package "$jinja" --package "$msafe" --package "$tmp/src/helpers")
  build_imports=(--import jinja2 --import helpers)
else
  skipped=$((skipped + 7))
  echo "skip - real packages: the package index is unreachable (no PACKAGES_DIR)" >&2
  build_pkgs=(--package "$tmp/src/helpers")
  build_imports=(--import helpers)
fi

# ---- runtime build, then --runtime
"$eryx" runtime build "${build_pkgs[@]}" "${build_imports[@]}" -o "$tmp/rt" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "runtime build exits 0 with a log line per step on stderr" \
  $([ "$rc" -eq 0 ] && [ "$(grep -c . "$tmp/e")" -ge 3 ] && [ -f "$tmp/rt/eryx-runtime.json" ]; echo $?)

out=$("$eryx" --runtime "$tmp/rt" -c 'import sys
print(sorted(m for m in ("helpers", "jinja2") if m in sys.modules))
import helpers
print(helpers.shout("rt"))' 2>"$tmp/e"); rc=$?
if [ -n "$pkgdir" ]; then want="['helpers', 'jinja2']"; else want="['helpers']"; fi
check "--runtime DIR: the imports are in sys.modules before any import" \
  $([ "$rc" -eq 0 ] && [ "$out" = "$want
RT!" ]; echo $?)

if [ -n "$pkgdir" ]; then
  out=$("$eryx" --runtime "$tmp/rt" -c 'import jinja2
print(jinja2.Template("{{ 6 * 7 }}").render())' 2>"$tmp/e"); rc=$?
  check "--runtime DIR renders with the pre-imported jinja2" \
    $([ "$rc" -eq 0 ] && [ "$out" = "42" ]; echo $?)
  out=$("$eryx" --runtime "$tmp/rt" --package "$attrs" -c 'import attrs, jinja2; print(attrs.__version__ != "")' 2>"$tmp/e"); rc=$?
  check "--runtime DIR --package WHEEL" $([ "$rc" -eq 0 ] && [ "$out" = "True" ]; echo $?)
fi

printf 'import sys\nprint("helpers" in sys.modules)\n' | "$eryx" --runtime "$tmp/rt" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "--runtime DIR with code from stdin" $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/o")" = "True" ]; echo $?)

"$eryx" runtime build --import eryx_no_such_module_4711 -o "$tmp/rt-bad" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "runtime build with a failing import: exit 4, the traceback, nothing left" \
  $([ "$rc" -eq 4 ] && grep -q "ModuleNotFoundError" "$tmp/e" && grep -q eryx_no_such_module_4711 "$tmp/e" \
    && { [ ! -e "$tmp/rt-bad" ] || [ -z "$(ls -A "$tmp/rt-bad")" ]; }; echo $?)

if [ -n "$pkgdir" ]; then
  "$eryx" runtime build --package "$linux" -o "$tmp/rt-linux" >"$tmp/o" 2>"$tmp/e"; rc=$?
  check "runtime build with a manylinux wheel: exit 4" \
    $([ "$rc" -eq 4 ] && grep -q "native code for linux-x86_64 cannot run in a WASI sandbox" "$tmp/e"; echo $?)
fi

"$eryx" runtime build --package "$tmp/src/helpers" -o "$tmp/rt" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "runtime build into a non-empty directory fails, leaving it" \
  $([ "$rc" -ne 0 ] && [ -f "$tmp/rt/eryx-runtime.json" ]; echo $?)

"$eryx" runtime build --import json >"$tmp/o" 2>"$tmp/e"; rc=$?
check "runtime build without -o exits 2" $([ "$rc" -eq 2 ]; echo $?)

cp -r "$tmp/rt" "$tmp/rt-tampered"
python3 - "$tmp/rt-tampered/eryx-runtime.json" >"$tmp/ours" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(m["eryx_version"])
m["eryx_version"] = "0.0.0-tampered"
json.dump(m, open(sys.argv[1], "w"))
PY
"$eryx" --runtime "$tmp/rt-tampered" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
check "--runtime DIR of another Eryx version: exit 4 naming both versions" \
  $([ "$rc" -eq 4 ] && [ ! -s "$tmp/o" ] && grep -qF "0.0.0-tampered" "$tmp/e" \
    && grep -qF "$(cat "$tmp/ours")" "$tmp/e"; echo $?)

"$eryx" --runtime "$tmp/no-such-runtime" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
check "--runtime of a missing directory fails naming it" \
  $([ "$rc" -ne 0 ] && [ ! -s "$tmp/o" ] && grep -qF "$tmp/no-such-runtime" "$tmp/e"; echo $?)

[ "$skipped" -eq 0 ] || echo "($skipped skipped: the package index is unreachable)" >&2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
