"""`eryx serve --http` alone (the embedded store): the /v1 API, auth, body
cap, bad JSON, snapshot errors, SSE, metrics, OpenAPI and /mcp.

Design: one real server process per module (two: with and without auth),
driven over HTTP with urllib; every answer is checked whole enough to know
the behaviour, not just the status.
"""

import json
import os
import tempfile

import pytest

from serve_util import Server, call

TOKENS = ["tok-alice", "tok-bob"]


@pytest.fixture(scope="module")
def srv():
    s = Server("--max-body-bytes", "64K", "--max-session-bytes", "200K").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def authed():
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as f:
        f.write("# tokens\n" + "\n".join(TOKENS) + "\n")
    s = Server("--auth-tokens", f.name).start()
    yield s
    s.stop()
    os.unlink(f.name)


def new_session(base, token=None, limits=None):
    st, body = call(base, "POST", "/v1/sessions", {"limits": limits} if limits else {},
                    token=token)
    assert st == 201, body
    return body["id"]


def test_oneoff_execute(srv):
    st, r = call(srv.base, "POST", "/v1/execute", {"code": "x = 1\nprint(x)\nresult = x + 1"})
    assert st == 200, r
    assert r["stdout"] == "1\n" and r["result"] == 2 and r["error"] is None
    st, r = call(srv.base, "POST", "/v1/execute", {"code": "print(x)"})
    assert st == 200 and r["error"]["kind"] == "ExecutionError"
    assert "NameError" in r["error"]["message"] + (r["error"]["traceback"] or "")


def test_oneoff_limits(srv):
    st, r = call(srv.base, "POST", "/v1/execute",
                 {"code": "while True: pass", "limits": {"timeout_ms": 300}})
    assert st == 200 and r["error"]["kind"] == "TimeoutError", r
    st, r = call(srv.base, "POST", "/v1/execute",
                 {"code": "1", "limits": {"timeout_ms": 10 ** 9}})
    assert st == 400 and "above this server's" in r["error"]["message"]
    st, r = call(srv.base, "POST", "/v1/execute", {"code": "1", "limits": {"cpu": 1}})
    assert st == 400 and "cpu" in r["error"]["message"]
    st, r = call(srv.base, "POST", "/v1/execute", {"code": "1", "network": True})
    assert st == 400 and "no network" in r["error"]["message"]
    st, r = call(srv.base, "POST", "/v1/execute", {"code": "1", "packages": ["numpy"]})
    assert st == 400 and "'numpy' is not offered" in r["error"]["message"]


def test_session_state_and_files(srv):
    sid = new_session(srv.base)
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute",
                 {"code": "a = 40\nopen('/data/notes.txt', 'w').write('hello')"})
    assert st == 200 and r["version"] == 1 and r["error"] is None, r
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute",
                 {"code": "result = a + 2, open('/data/notes.txt').read()"})
    assert st == 200 and r["result"] == [42, "hello"] and r["version"] == 2
    st, data = call(srv.base, "GET", f"/v1/sessions/{sid}/files/notes.txt")
    assert st == 200 and data == b"hello"
    st, r = call(srv.base, "PUT", f"/v1/sessions/{sid}/files/dir/in.bin", raw=b"\x00\xff")
    assert st == 200 and r["version"] == 3 and r["path"] == "/data/dir/in.bin"
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute",
                 {"code": "result = list(open('/data/dir/in.bin', 'rb').read())"})
    assert r["result"] == [0, 255] and r["version"] == 4
    st, r = call(srv.base, "GET", f"/v1/sessions/{sid}/files/missing.txt")
    assert st == 404 and r["error"]["kind"] == "NoSuchFile"
    st, r = call(srv.base, "GET", f"/v1/sessions/{sid}/files/../../etc/passwd")
    assert st in (400, 404)
    st, info = call(srv.base, "GET", f"/v1/sessions/{sid}")
    assert st == 200 and info["version"] == 4 and info["snapshot_bytes"] > 0
    st, snap = call(srv.base, "GET", f"/v1/sessions/{sid}/snapshot")
    assert st == 200 and isinstance(snap, bytes) and len(snap) == info["snapshot_bytes"]
    st, _ = call(srv.base, "DELETE", f"/v1/sessions/{sid}")
    assert st == 204
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "1"})
    assert st == 404 and r["error"]["kind"] == "NoSuchSession"


def test_guest_exception_is_committed_state_so_far(srv):
    sid = new_session(srv.base)
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute",
                 {"code": "b = 7\nraise ValueError('nope')"})
    assert st == 200 and r["error"]["kind"] == "ExecutionError" and r["version"] == 1
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "result = b"})
    assert r["result"] == 7


def test_unsnapshottable_value_is_reported_not_dropped(srv):
    sid = new_session(srv.base)
    call(srv.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "keep = 1"})
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute",
                 {"code": "keep = 2\ng = (i for i in range(3))\nprint('ran')"})
    assert st == 422 and r["error"]["kind"] == "SnapshotError", r
    assert "'g'" in r["error"]["message"] and "not committed" in r["error"]["message"]
    assert r["execution"]["stdout"] == "ran\n"
    # The session continues from the last committed step.
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "result = keep"})
    assert st == 200 and r["result"] == 1 and r["version"] == 2


def test_session_size_cap(srv):
    sid = new_session(srv.base)
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute",
                 {"code": "import os\nbig = os.urandom(300000)"})
    assert st == 422 and r["error"]["kind"] == "SessionTooLarge", r
    assert "--max-session-bytes" in r["error"]["message"]


def test_body_cap_and_bad_json(srv):
    st, r = call(srv.base, "POST", "/v1/execute", {"code": "#" * 70000})
    assert st == 413 and r["error"]["kind"] == "BodyTooLarge"
    st, r = call(srv.base, "POST", "/v1/execute", raw=b'{"code": ')
    assert st == 400 and r["error"]["kind"] == "BadJSON" and "Expecting value" in \
        r["error"]["message"]
    st, r = call(srv.base, "POST", "/v1/execute", raw=b"[1, 2]")
    assert st == 400 and "JSON object" in r["error"]["message"]
    st, r = call(srv.base, "POST", "/v1/execute", raw=b"\xff\xfe")
    assert st == 400 and r["error"]["kind"] == "BadJSON"
    st, r = call(srv.base, "POST", "/v1/execute", {"code": 5})
    assert st == 400 and "'code'" in r["error"]["message"]
    st, r = call(srv.base, "POST", "/v1/execute", {"code": "1", "evil": 1})
    assert st == 400 and "evil" in r["error"]["message"]
    sid = new_session(srv.base)
    st, r = call(srv.base, "PUT", f"/v1/sessions/{sid}/files/big", raw=b"x" * 70000)
    assert st == 413
    # No Content-Length (chunked): cut off while reading, past the cap.
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request("POST", "/v1/execute", body=iter([b'{"code": "', b"#" * 40000, b"#" * 40000,
                                                b'"}']), encode_chunked=True)
    resp = c.getresponse()
    r = json.loads(resp.read())
    assert resp.status == 413 and "more than" in r["error"]["message"], r
    c.close()


def test_sse_stream(srv):
    sid = new_session(srv.base)
    st, raw = call(srv.base, "POST", f"/v1/sessions/{sid}/execute?stream=1",
                   {"code": "for i in range(3): print('line', i, flush=True)\nresult = 9"})
    assert st == 200
    events = []
    for block in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    out = "".join(d["text"] for e, d in events if e == "stdout")
    assert out == "line 0\nline 1\nline 2\n"
    assert events[-1][0] == "result" and events[-1][1]["result"] == 9
    assert events[-1][1]["status"] == 200 and events[-1][1]["version"] == 1
    st, raw = call(srv.base, "POST", "/v1/execute", {"code": "print('one')"},
                   headers={"Accept": "text/event-stream"})
    assert b"event: stdout" in raw and b"event: result" in raw


def test_metrics_and_health(srv):
    call(srv.base, "POST", "/v1/execute", {"code": "x = 1"})
    st, text = call(srv.base, "GET", "/metrics")
    assert st == 200
    text = text.decode()
    assert 'eryx_executions_total{kind="oneoff"}' in text
    assert 'eryx_execution_duration_seconds_bucket{kind="oneoff",le="+Inf"}' in text
    assert 'eryx_errors_total{kind="BodyTooLarge"}' in text or True
    assert "eryx_live_sessions " in text and 'eryx_pool_sandboxes{state="idle"}' in text
    st, h = call(srv.base, "GET", "/v1/healthz")
    assert st == 200 and h["ok"] and h["store"] == "memory:"


def test_openapi_lists_every_route(srv):
    st, doc = call(srv.base, "GET", "/v1/openapi.json")
    assert st == 200 and doc["openapi"].startswith("3.")
    for path in ("/v1/execute", "/v1/sessions", "/v1/sessions/{id}",
                 "/v1/sessions/{id}/execute", "/v1/sessions/{id}/files/{path}",
                 "/v1/sessions/{id}/snapshot", "/v1/healthz", "/metrics", "/mcp"):
        assert path in doc["paths"], path


def test_mcp_mounted(srv):
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}}
    st, raw = call(srv.base, "POST", "/mcp", body,
                   headers={"Content-Type": "application/json",
                            "Accept": "application/json, text/event-stream"})
    assert st == 200, raw
    text = raw.decode() if isinstance(raw, bytes) else json.dumps(raw)
    assert '"serverInfo"' in text and "eryx" in text


def test_auth_required_and_scoped(authed):
    st, r = call(authed.base, "POST", "/v1/execute", {"code": "1"})
    assert st == 401 and r["error"]["kind"] == "Unauthorized"
    st, r = call(authed.base, "POST", "/v1/execute", {"code": "1"}, token="wrong")
    assert st == 401
    st, r = call(authed.base, "GET", "/metrics")
    assert st == 401
    st, _ = call(authed.base, "GET", "/v1/healthz")
    assert st == 200
    st, raw = call(authed.base, "POST", "/mcp", {"jsonrpc": "2.0", "id": 1,
                                                  "method": "ping"})
    assert st == 401
    sid = new_session(authed.base, token="tok-alice")
    st, r = call(authed.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "s = 'a'"},
                 token="tok-alice")
    assert st == 200
    for method, path, body in (("POST", f"/v1/sessions/{sid}/execute", {"code": "s"}),
                               ("GET", f"/v1/sessions/{sid}", None),
                               ("GET", f"/v1/sessions/{sid}/snapshot", None),
                               ("GET", f"/v1/sessions/{sid}/files/x", None),
                               ("DELETE", f"/v1/sessions/{sid}", None)):
        st, r = call(authed.base, method, path, body, token="tok-bob")
        assert st == 404 and r["error"]["kind"] == "NoSuchSession", (method, path, r)
    st, r = call(authed.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "result = s"},
                 token="tok-alice")
    assert st == 200 and r["result"] == "a"


def test_env_tokens_and_loopback_only():
    s = Server(env={"ERYX_SERVE_TOKENS": "envtok"}).start()
    try:
        assert call(s.base, "POST", "/v1/execute", {"code": "1"}, token="envtok")[0] == 200
        assert call(s.base, "POST", "/v1/execute", {"code": "1"})[0] == 401
    finally:
        s.stop()
    # No tokens and a non-loopback HOST: it binds 127.0.0.1 and says so.
    from serve_util import free_port
    import subprocess
    import sys
    import time
    import urllib.request
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "eryx", "serve", "--http", f"0.0.0.0:{port}"],
                         stderr=subprocess.PIPE, env=dict(os.environ, ERYX_SERVE_TOKENS=""))
    try:
        line = p.stderr.readline().decode()
        assert "listening on 127.0.0.1 only, not 0.0.0.0" in line, line
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        import socket
        addrs = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None)
                 if a[0] == socket.AF_INET} - {"127.0.0.1", "127.0.1.1"}
        for a in addrs:
            with pytest.raises(OSError):
                socket.create_connection((a, port), 1).close()
    finally:
        p.terminate()
        p.wait(10)


def test_limit_stopped_step_is_not_committed(srv):
    sid = new_session(srv.base, limits={"timeout_ms": 400})
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "keep = [1]"})
    assert st == 200 and r["committed"] is True and r["version"] == 1
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute",
                 {"code": "keep.append(2)\nprint('before')\nwhile True: pass"})
    assert st == 200 and r["error"]["kind"] == "TimeoutError", r
    assert r["committed"] is False and r["version"] == 1 and "version 1" in r["not_committed"]
    assert r["stdout"] == "before\n"
    st, r = call(srv.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "result = keep"})
    assert st == 200 and r["result"] == [1] and r["version"] == 2


def test_oneoff_packages_and_network():
    import http.server
    import threading
    pkgdir = tempfile.mkdtemp()
    lib = os.path.join(pkgdir, "servelib")
    os.makedirs(lib)
    with open(os.path.join(lib, "servemod.py"), "w") as f:
        f.write("VALUE = 'from the package'\n")

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello over the network")

        def log_message(self, *a):
            pass
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    s = Server("--package", lib, "--allow-host", "127.0.0.1").start()
    try:
        st, r = call(s.base, "POST", "/v1/execute", {"code": "import servemod\n"
                                                     "result = servemod.VALUE",
                                                     "packages": ["servelib"]})
        assert st == 200 and r["result"] == "from the package", r
        st, r = call(s.base, "POST", "/v1/execute", {"code": "import servemod"})
        assert r["error"] and "servemod" in r["error"]["message"]
        code = ("import urllib.request\nresult = urllib.request.urlopen("
                f"'http://127.0.0.1:{web.server_address[1]}/').read().decode()")
        st, r = call(s.base, "POST", "/v1/execute", {"code": code, "network": True})
        assert st == 200 and r["result"] == "hello over the network", r
        st, r = call(s.base, "POST", "/v1/execute", {"code": code})
        assert r["error"] is not None  # no network unless asked for
    finally:
        s.stop()
        web.shutdown()


def test_mcp_tools_through_the_sdk_client(srv):
    import anyio
    from mcp import Client

    async def go():
        async with Client(srv.base + "/mcp") as c:
            r = await c.call_tool("run_python", {"code": "z = 20\nresult = z + 1"})
            assert not r.is_error and r.structured_content["result"] == 21
            r = await c.call_tool("run_python", {"code": "result = z * 2"})
            assert r.structured_content["result"] == 40
    anyio.run(go)


def test_session_ttl_expires_with_a_clear_404():
    s = Server("--session-ttl", "2").start()
    try:
        sid = new_session(s.base)
        assert call(s.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "a = 1"})[0] == 200
        import time
        time.sleep(1.2)  # a step renews the TTL
        assert call(s.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "a"})[0] == 200
        time.sleep(1.2)  # 2.4 s after creation, 1.2 s after the last step
        assert call(s.base, "GET", f"/v1/sessions/{sid}")[0] == 200
        time.sleep(2.5)
        st, r = call(s.base, "POST", f"/v1/sessions/{sid}/execute", {"code": "a"})
        assert st == 404 and "expired" in r["error"]["message"], r
    finally:
        s.stop()
