#!/bin/sh
# symbols.sh — liberyx.so exports exactly the functions include/eryx.h
# declares: no eryx__ internals, no Wasmtime or Rust symbols, none missing.
#
# The declared functions come from the preprocessed header (comments and
# macros gone): each identifier eryx_... directly followed by "(" (the
# function-pointer typedefs, (*eryx_x_fn)(...), are followed by ")").
# usage: symbols.sh LIBERYX.so ERYX.h CC
set -u
lib=$1 header=$2 cc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" >"$tmp/nm" || exit 1
awk '{ sub(/@.*/, "", $NF); print $NF }' "$tmp/nm" | sort -u >"$tmp/exported"
"$cc" -E -P "$header" >"$tmp/header" || exit 1
grep -o 'eryx_[a-z0-9_]*[[:space:]]*(' "$tmp/header" | sed 's/[[:space:]]*($//' \
  | sort -u >"$tmp/declared"

extra=$(comm -13 "$tmp/declared" "$tmp/exported")
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
echo "$(wc -l <"$tmp/declared") functions declared, $(wc -l <"$tmp/exported") symbols exported"
[ -z "$extra" ] || { echo "exported but not declared in eryx.h:"; echo "$extra"; }
[ -z "$missing" ] || { echo "declared in eryx.h but not exported:"; echo "$missing"; }
[ -s "$tmp/declared" ] && [ -z "$extra" ] && [ -z "$missing" ]
