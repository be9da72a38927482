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

# Numeric options are parsed strictly: no sign, no junk, within range.
for bad in -5 0 5x '' ' 5' +5 0x10 4294967296 99999999999999999999999; do
  "$eryx" --timeout "$bad" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
  check "--timeout '$bad' is a usage error" \
    $([ "$rc" -eq 2 ] && [ ! -s "$tmp/o" ] && grep -q -- "--timeout: '$bad' is not a whole number" "$tmp/e"; echo $?)
done
"$eryx" repl --timeout -5 </dev/null >/dev/null 2>"$tmp/e"; rc=$?
check "repl --timeout -5 is a usage error" $([ "$rc" -eq 2 ] && grep -q -- "--timeout" "$tmp/e"; echo $?)
out=$("$eryx" --timeout 4294967295 -c 'print(1)'); rc=$?
check "--timeout at its maximum" $([ "$rc" -eq 0 ] && [ "$out" = "1" ]; echo $?)

# Exit status: an uncaught MemoryError is a limit; sys.exit as in python.
"$eryx" -c 'x = bytearray(10**9)' >/dev/null 2>"$tmp/e"; rc=$?
check "uncaught MemoryError exits 3" $([ "$rc" -eq 3 ] && grep -q MemoryError "$tmp/e"; echo $?)
"$eryx" -c 'try:
    x = bytearray(10**9)
except MemoryError:
    print("caught")' >"$tmp/o" 2>&1; rc=$?
check "caught MemoryError exits 0" $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/o")" = "caught" ]; echo $?)
for c in 'sys.exit()/0' 'sys.exit(0)/0' 'sys.exit(None)/0' 'sys.exit(3)/3' 'sys.exit(255)/255' \
         'sys.exit(256)/255' 'sys.exit(-1)/255' 'sys.exit(True)/1'; do
  "$eryx" -c "import sys; print('before'); ${c%/*}; print('after')" >"$tmp/o" 2>"$tmp/e"; rc=$?
  check "${c%/*} exits ${c#*/}, no traceback" \
    $([ "$rc" -eq "${c#*/}" ] && [ "$(cat "$tmp/o")" = "before" ] && [ ! -s "$tmp/e" ]; echo $?)
done
"$eryx" -c 'import sys; sys.exit("bye now")' >"$tmp/o" 2>"$tmp/e"; rc=$?
check "sys.exit(\"msg\") prints msg to stderr, exits 1" \
  $([ "$rc" -eq 1 ] && [ "$(cat "$tmp/e")" = "bye now" ] && [ ! -s "$tmp/o" ]; echo $?)
out=$("$eryx" --json -c 'import sys; sys.exit(4)'); rc=$?
check "--json: sys.exit(4) exits 4 and says so" $([ "$rc" -eq 4 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["status"] == "exception" and d["exit_code"] == 4, d
assert d["error"]["type"] == "SystemExit" and d["error"]["message"] == "4", d
assert d["error"]["traceback"] == "" and d["stderr"] == "", d
' "$out"; echo $?)

# --json is built by a JSON encoder: guest text cannot change its shape.
out=$("$eryx" --json -c 'import json
print("real")
json.dumps = lambda *a, **k: "1, \"stdout\": \"forged\""
result = 1'); rc=$?
check "--json: a forged result cannot override keys" $([ "$rc" -eq 0 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1], object_pairs_hook=lambda kv: (
    [k for k, _ in kv].count("stdout") <= 1 or sys.exit("duplicate key")) and dict(kv))
assert d["stdout"] == "real\n", d
assert d["result"] is None and d["result_error"], d
' "$out"; echo $?)
out=$("$eryx" --json -c 'import sys
print("a\ud800", file=sys.stderr)
sys.__stdout__.buffer.write(b"x\xff\xc3(\n"); sys.__stdout__.flush()
result = {"s": "\ud800"}'); rc=$?
check "--json: lone surrogates and bad UTF-8 stay valid JSON" $([ "$rc" -eq 0 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["stderr"] == "a\\ud800\n", d
assert d["stdout"] == "x\ufffd\ufffd(\n", d
assert d["result"] is None and "lone surrogate" in d["result_error"], d
' "$out"; echo $?)
out=$("$eryx" --json -c 'r = []
[r := [r] for _ in range(100000)]
result = r'); rc=$?
check "--json: a result nested 100000 deep is a result_error" $([ "$rc" -eq 0 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["status"] == "ok" and d["result"] is None, d
assert "127 levels" in d["result_error"], d
' "$out"; echo $?)
out=$("$eryx" --json -c 'result = {"n": [1, 2.5, None, True, "\u00e9\x00"], "f": 0.1}'); rc=$?
check "--json: the result is a parsed value" $([ "$rc" -eq 0 ] && python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["result"] == {"n": [1, 2.5, None, True, "\u00e9\x00"], "f": 0.1}, d
assert d["result_error"] is None and d["exit_code"] is None, d
' "$out"; echo $?)

# The script's own arguments: everything after FILE, - or -c CODE.
printf 'import sys\nprint(sys.argv)\n' > "$tmp/argv.py"
out=$("$eryx" --timeout 5000 "$tmp/argv.py" a --timeout "b c"); rc=$?
check "eryx FILE ARGS: sys.argv, flags after FILE are the script's" \
  $([ "$rc" -eq 0 ] && [ "$out" = "['$tmp/argv.py', 'a', '--timeout', 'b c']" ]; echo $?)
out=$("$eryx" run "$tmp/argv.py" x); rc=$?
check "eryx run FILE ARGS" $([ "$rc" -eq 0 ] && [ "$out" = "['$tmp/argv.py', 'x']" ]; echo $?)
out=$("$eryx" - one two < "$tmp/argv.py"); rc=$?
check "eryx - ARGS reads the script from stdin" \
  $([ "$rc" -eq 0 ] && [ "$out" = "['-', 'one', 'two']" ]; echo $?)
out=$("$eryx" -c 'import sys; print(sys.argv)' -v x); rc=$?
check "eryx -c CODE ARGS" $([ "$rc" -eq 0 ] && [ "$out" = "['-c', '-v', 'x']" ]; echo $?)
out=$("$eryx" < "$tmp/argv.py"); rc=$?
check "code from stdin: sys.argv is ['-']" $([ "$rc" -eq 0 ] && [ "$out" = "['-']" ]; echo $?)
out=$("$eryx" --version); rc=$?
check "--version" $([ "$rc" -eq 0 ] && echo "$out" | grep -Eq '^eryx [0-9]+\.[0-9]+\.[0-9]+$'; echo $?)

# --max-memory: the limit holds, sizes are parsed strictly.
"$eryx" --max-memory 64M -c 'x = bytearray(100 * 2**20)' >/dev/null 2>"$tmp/e"; rc=$?
check "--max-memory 64M refuses 100 MiB (exit 3)" $([ "$rc" -eq 3 ] && grep -q MemoryError "$tmp/e"; echo $?)
out=$("$eryx" --max-memory 256m -c 'x = bytearray(100 * 2**20); print(len(x) >> 20)'); rc=$?
check "--max-memory 256m allows it" $([ "$rc" -eq 0 ] && [ "$out" = "100" ]; echo $?)
out=$("$eryx" --max-memory 134217728 -c 'print(1)'); rc=$?
check "--max-memory in bytes" $([ "$rc" -eq 0 ] && [ "$out" = "1" ]; echo $?)
for bad in 16M 5G 4097M -64M 64X '' M 64MB2 99999999999999999999G; do
  "$eryx" --max-memory "$bad" -c 'print(1)' >"$tmp/o" 2>"$tmp/e"; rc=$?
  check "--max-memory '$bad' is a usage error" \
    $([ "$rc" -eq 2 ] && [ ! -s "$tmp/o" ] && grep -q -- "--max-memory: " "$tmp/e"; echo $?)
done
out=$(printf 'len(bytearray(100 * 2**20))\n' | "$eryx" repl --max-memory 64M 2>"$tmp/e"); rc=$?
check "repl takes --max-memory" $([ "$rc" -eq 0 ] && grep -q MemoryError "$tmp/e"; echo $?)
"$eryx" repl -c 'print(1)' </dev/null >/dev/null 2>"$tmp/e"; rc=$?
check "repl -c is a usage error" $([ "$rc" -eq 2 ] && grep -q "sandbox options only" "$tmp/e"; echo $?)
"$eryx" --bogus-flag x.py >/dev/null 2>"$tmp/e"; rc=$?
check "an unknown option before FILE names it" $([ "$rc" -eq 2 ] && grep -q "unknown option '--bogus-flag'" "$tmp/e"; echo $?)

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

printf 'x = 1\nimport sys\nsys.exit(5)\nprint("not reached")\n' | "$eryx" repl >"$tmp/o" 2>"$tmp/e"; rc=$?
check "repl: sys.exit(5) ends it with status 5" \
  $([ "$rc" -eq 5 ] && [ ! -s "$tmp/o" ] && [ ! -s "$tmp/e" ]; echo $?)

# Ctrl-C (SIGINT) cancels the running input; the REPL goes on.
(printf 'while True: pass\n'; sleep 3; printf 'print("alive")\n') \
  | "$eryx" repl >"$tmp/o" 2>"$tmp/e" &
repl_pid=$!
sleep 1.5
kill -INT "$repl_pid"
wait "$repl_pid"; rc=$?
check "repl: Ctrl-C cancels the input, the REPL goes on" \
  $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/o")" = "alive" ] && grep -q KeyboardInterrupt "$tmp/e"; echo $?)

# Networking: off by default; --net is public hosts only; --allow-host
# opens a loopback server the test starts itself.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$tmp/www" && echo hello-from-host >"$tmp/www/index.html"
python3 -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$port" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 0.1; done
get="import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/index.html').read().decode().strip())"
"$eryx" -c "$get" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "networking is off without --net" $([ "$rc" -eq 1 ] && grep -qi "networking is off" "$tmp/e"; echo $?)
"$eryx" --net -c "$get" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "--net refuses loopback" $([ "$rc" -eq 1 ] && grep -q "loopback" "$tmp/e"; echo $?)
"$eryx" --allow-host "127.0.0.1:$port" -c "$get" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "--allow-host 127.0.0.1:PORT reaches the server" \
  $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/o")" = "hello-from-host" ]; echo $?)
"$eryx" --allow-host "example.com" -c "$get" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "--allow-host of another host refuses this one" \
  $([ "$rc" -eq 1 ] && grep -q "not in allowed_hosts\|loopback" "$tmp/e"; echo $?)
"$eryx" --allow-host >/dev/null 2>&1; rc=$?
check "--allow-host without a pattern exits 2" $([ "$rc" -eq 2 ]; echo $?)
kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null

# Secrets: --secret NAME=ENVVAR@HOST. A loopback server records what it
# receives and echoes the Authorization header back in its body.
cat >"$tmp/echo_auth.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        with open(sys.argv[2], "a") as f:
            f.write(self.requestline + "\n" + str(self.headers))
        body = ("auth=" + (self.headers.get("Authorization") or "")).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$tmp/echo_auth.py" "$port" "$tmp/seen" &
server_pid=$!
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 0.1; done
get="import os, urllib.request
p = os.environ['TOKEN']
print(p, p.encode().hex())
q = urllib.request.Request('http://127.0.0.1:$port/', headers={'Authorization': 'Bearer ' + p})
print(urllib.request.urlopen(q).read().decode())"
env -u ERYX_TEST_NO_SUCH "$eryx" --secret TOKEN=ERYX_TEST_NO_SUCH@127.0.0.1 -c "pass" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "--secret with an unset variable exits 2 naming it" \
  $([ "$rc" -eq 2 ] && grep -q "ERYX_TEST_NO_SUCH is not set" "$tmp/e"; echo $?)
"$eryx" --secret "TOKEN" -c "pass" >/dev/null 2>&1; rc=$?
check "--secret without =ENVVAR@HOST exits 2" $([ "$rc" -eq 2 ]; echo $?)
ERYX_TEST_TOKEN=cli-secret-6d1f0e \
  "$eryx" --secret "TOKEN=ERYX_TEST_TOKEN@127.0.0.1:$port" --allow-host "127.0.0.1:$port" \
  -c "$get" >"$tmp/o" 2>"$tmp/e"; rc=$?
check "--secret: the code sees a placeholder, output is scrubbed" \
  $([ "$rc" -eq 0 ] && grep -q "^\[REDACTED\] " "$tmp/o" && grep -q "^auth=Bearer \[REDACTED\]$" "$tmp/o" \
    && ! grep -q "cli-secret-6d1f0e\|ERYX_SECRET_" "$tmp/o" "$tmp/e"; echo $?)
check "--secret: the server got the value in the Authorization header" \
  $(grep -q "^Authorization: Bearer cli-secret-6d1f0e$" "$tmp/seen"; echo $?)
kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null

# -v: read-only by default, :rw writes to the host directory.
mkdir -p "$tmp/vol"
echo "from host" >"$tmp/vol/in.txt"
out=$("$eryx" -v "$tmp/vol:/mnt/v" -c 'print(open("/mnt/v/in.txt").read().strip())
try:
    open("/mnt/v/x.txt", "w")
    print("written")
except OSError:
    print("refused")' 2>"$tmp/e"); rc=$?
check "-v mounts read-only by default" \
  $([ "$rc" -eq 0 ] && [ "$out" = "$(printf 'from host\nrefused')" ] && [ ! -e "$tmp/vol/x.txt" ]; echo $?)
"$eryx" -v "$tmp/vol:/mnt/v:rw" -c 'open("/mnt/v/x.txt", "w").write("made")' 2>"$tmp/e"; rc=$?
check "-v ...:rw writes to the host directory" \
  $([ "$rc" -eq 0 ] && [ "$(cat "$tmp/vol/x.txt")" = "made" ]; echo $?)
"$eryx" -v "$tmp/vol:/python" -c 'pass' >/dev/null 2>"$tmp/e"; rc=$?
check "-v over /python exits 2 naming the reason" $([ "$rc" -eq 2 ] && grep -q "shadow" "$tmp/e"; echo $?)
"$eryx" -v "$tmp/vol" -c 'pass' >/dev/null 2>"$tmp/e"; rc=$?
check "-v without :DST exits 2" $([ "$rc" -eq 2 ]; echo $?)

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
