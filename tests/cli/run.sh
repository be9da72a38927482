#!/usr/bin/env bash
# CLI tests: exit codes, output forwarding, --json, code from stdin/files.
# usage: run.sh PATH/TO/eryx
set -u
eryx=${1:?usage: run.sh PATH/TO/eryx}
passed=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # name, condition result (0 = ok)
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok - $1" >&2
  else failed=$((failed + 1)); echo "not ok - $1" >&2; fi
}

out=$("$eryx" -c 'print("hi")' 2>"$tmp/err"); rc=$?
check "-c prints and exits 0" $([ "$rc" -eq 0 ] && [ "$out" = "hi" ]; echo $?)

"$eryx" -c 'import sys; print("E", file=sys.stderr); print("O")' >"$tmp/o" 2>"$tmp/e"
check "stdout and stderr forwarded separately" \
  $([ "$(cat "$tmp/o")" = "O" ] && [ "$(cat "$tmp/e")" = "E" ]; echo $?)

"$eryx" -c '1/0' >"$tmp/o" 2>"$tmp/e"; rc=$?
check "exception exits 1 with traceback on stderr" \
  $([ "$rc" -eq 1 ] && grep -q ZeroDivisionError "$tmp/e"; echo $?)

"$eryx" -c 'x = (' >/dev/null 2>&1; rc=$?
check "syntax error exits 1" $([ "$rc" -eq 1 ]; echo $?)

"$eryx" --bogus >/dev/null 2>"$tmp/e"; rc=$?
check "unknown option exits 2 with usage" $([ "$rc" -eq 2 ] && grep -q usage "$tmp/e"; echo $?)

"$eryx" run /nonexistent.py >/dev/null 2>&1; rc=$?
check "missing file exits 2" $([ "$rc" -eq 2 ]; echo $?)

"$eryx" --timeout 200 -c 'while True: pass' >/dev/null 2>"$tmp/e"; rc=$?
check "timeout exits 3" $([ "$rc" -eq 3 ] && grep -q TimeoutError "$tmp/e"; echo $?)

# A wait inside WASI (select, not our sleep import) ends at the timeout too.
start=$(date +%s%N)
timeout 20 "$eryx" --timeout 500 -c 'import select; select.select([], [], [], 1e6)' \
  >/dev/null 2>"$tmp/e"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "timeout ends a WASI wait fast (${ms} ms)" \
  $([ "$rc" -eq 3 ] && [ "$ms" -lt 1500 ] && grep -q TimeoutError "$tmp/e"; echo $?)

printf 'import sys\nprint(sum(range(10)))\n' > "$tmp/s.py"
out=$("$eryx" run "$tmp/s.py"); rc=$?
check "run FILE" $([ "$rc" -eq 0 ] && [ "$out" = "45" ]; echo $?)

out=$(printf 'print(6 * 7)\n' | "$eryx"); rc=$?
check "code from stdin" $([ "$rc" -eq 0 ] && [ "$out" = "42" ]; echo $?)

out=$(printf 'print(1)\n' | "$eryx" run -); rc=$?
check "run - reads stdin" $([ "$rc" -eq 0 ] && [ "$out" = "1" ]; echo $?)

out=$("$eryx" --json -c 'print("a\"b")
result = {"k": [1, 2]}'); rc=$?
check "--json prints the whole result" $([ "$rc" -eq 0 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["status"] == "ok", d
assert d["stdout"] == "a\"b\n", d
assert d["result"] == {"k": [1, 2]}, d
assert d["error"] is None and d["duration_ms"] > 0, d
assert d["peak_memory_bytes"] > 2**20 and d["callback_invocations"] == 0, d
' "$out"; echo $?)

out=$("$eryx" --json -c 'def f():
    raise ValueError("nope")
f()'); rc=$?
check "--json reports the error" $([ "$rc" -eq 1 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["status"] == "exception", d
assert d["error"]["type"] == "ValueError" and d["error"]["message"] == "nope", d
assert d["error"]["line"] == 2 and "line 3" in d["error"]["traceback"], d
' "$out"; echo $?)

printf 'print("\xff")' > "$tmp/bad.py"
"$eryx" run "$tmp/bad.py" >/dev/null 2>"$tmp/e"; rc=$?
check "invalid UTF-8 exits 2 with a message" $([ "$rc" -eq 2 ] && grep -q UTF-8 "$tmp/e"; echo $?)

# The REPL, driven through piped stdin.
printf 'x = 20\ndef f(a):\n    return a + x\n\nf(22)\nfor i in range(2):\n    print(i)\n\n[1,\n 2]\nprint("""a\nb""")\nNone\n' \
  | "$eryx" repl >"$tmp/o" 2>"$tmp/e"; rc=$?
check "repl: state, blocks, brackets, echo" \
  $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/o")" = "$(printf '42\n0\n1\n[1, 2]\na\nb')" ]; echo $?)

printf 'result = 5\nresult + 1\n' | "$eryx" repl >"$tmp/o" 2>"$tmp/e"; rc=$?
check "repl: a variable named result stays the user's" \
  $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/o")" = "6" ]; echo $?)

printf 'import math\nclass P:\n    def __init__(s, r): s.r = r\n    def area(s): return math.pi * s.r ** 2\n\np = P(2)\n%%save %s\n%%reset\np\n%%load %s\nround(p.area(), 3)\n%%exit\nprint("not reached")\n' \
  "$tmp/snap" "$tmp/snap" | "$eryx" repl >"$tmp/o" 2>"$tmp/e"; rc=$?
check "repl: %save, %reset, %load round trip" \
  $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/o")" = "12.566" ] && grep -q "NameError" "$tmp/e" \
    && grep -q "loaded" "$tmp/e"; echo $?)

printf 'gen = (i for i in [1])\n%%save %s\n%%save --skip %s\n' "$tmp/s2" "$tmp/s2" \
  | "$eryx" repl >"$tmp/o" 2>"$tmp/e"; rc=$?
check "repl: unserializable values are named, --skip reports them" \
  $([ "$rc" -eq 0 ] && grep -q "'gen' (generator" "$tmp/e" && grep -q "left out: gen" "$tmp/e"; echo $?)

# Ctrl-C (SIGINT) cancels the running input; the REPL goes on.
(printf 'while True: pass\n'; sleep 3; printf 'print("alive")\n') \
  | "$eryx" repl >"$tmp/o" 2>"$tmp/e" &
repl_pid=$!
sleep 1.5
kill -INT "$repl_pid"
wait "$repl_pid"; rc=$?
check "repl: Ctrl-C cancels the input, the REPL goes on" \
  $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/o")" = "alive" ] && grep -q KeyboardInterrupt "$tmp/e"; echo $?)

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
