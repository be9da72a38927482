#!/bin/sh
# readme_examples.sh — README.md shows the example programs verbatim.
#
# A block is marked by the line `<!-- example: examples/NAME.c -->` right
# before its ```c fence; its text must equal the file byte for byte. Every
# file named on the command line must be shown exactly once, and every
# marked block must name one of them.
# usage: readme_examples.sh SOURCE_DIR examples/hello.c ...
set -u
src=$1
shift
readme=$src/README.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# Every marked block, each to a file of its own: block.N, and its name.N.
awk -v dir="$tmp" '
  mark != "" && $0 == "```c" { n++; name = mark; mark = ""; out = dir "/block." n;
                              print name > (dir "/name." n); printf "" > out; next }
  mark != "" { print "marker for " mark " is not followed by a ```c fence" > "/dev/stderr";
               bad = 1; mark = "" }
  /^<!-- example: [^ ]+ -->$/ { mark = $3; next }
  out != "" && $0 == "```" { close(out); out = ""; next }
  out != "" { print >> out }
  END { exit bad }
' "$readme" || failed=1

for f in "$@"; do
  count=0
  for name in "$tmp"/name.*; do
    [ -e "$name" ] || continue
    [ "$(cat "$name")" = "$f" ] || continue
    count=$((count + 1))
    block=$tmp/block.${name##*.}
    if cmp -s "$block" "$src/$f"; then
      echo "ok - README shows $f verbatim"
    else
      echo "not ok - README's copy of $f differs:"
      diff -u "$src/$f" "$block"
      failed=1
    fi
  done
  if [ "$count" -ne 1 ]; then
    echo "not ok - README shows $f $count times (want once, marked <!-- example: $f -->)"
    failed=1
  fi
done
for name in "$tmp"/name.*; do
  [ -e "$name" ] || continue
  case " $* " in
    *" $(cat "$name") "*) ;;
    *) echo "not ok - README marks $(cat "$name"), which is not an example"; failed=1 ;;
  esac
done
exit "$failed"
