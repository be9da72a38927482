#!/bin/sh
# expect.sh — runs a program, shows its output, and passes when it exits 0
# and a line of its stdout matches an extended regular expression.
# usage: expect.sh REGEX PROGRAM [ARG...]
set -u
regex=$1
shift
out=$("$@")
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "expect.sh: $1 exited $rc" >&2; exit 1; }
printf '%s\n' "$out" | grep -Eq -- "$regex" || { echo "expect.sh: no line matches $regex" >&2; exit 1; }
