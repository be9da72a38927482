"""`eryx mcp` through the official MCP SDK's own client: a real server
process over stdio and over streamable HTTP, real protocol messages.

`mcp` is a test requirement (python/requirements-mcp.txt, installed by the
Makefile): without it these tests fail at import, they do not skip.
"""
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time

import anyio
import mcp  # noqa: F401 - missing: fail, not skip
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

HERE = os.path.dirname(os.path.abspath(__file__))


def stdio(*flags, sub="mcp"):
    return Client(StdioServerParameters(command=sys.executable,
                                        args=["-m", "eryx", sub, *flags]))


def run(coro):
    return anyio.run(lambda: coro)


async def py(c, code, **kw):
    args = {"code": code, **{k: v for k, v in kw.items() if k != "progress"}}
    r = await c.call_tool("run_python", args, progress_callback=kw.get("progress"))
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpServer:
    def __init__(self, *flags):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "eryx", "mcp", "--http",
                                      f"127.0.0.1:{self.port}", *flags],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"eryx mcp --http exited: {self.proc.stderr.read()!r}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("eryx mcp --http did not listen")
        self.url = f"http://127.0.0.1:{self.port}/mcp"

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class connect:
    """`async with connect(transport, *flags) as client`: a fresh `eryx mcp`
    over stdio, or over streamable HTTP (its process stopped afterwards)."""

    def __init__(self, transport, *flags):
        self.transport, self.flags, self.http = transport, flags, None

    async def __aenter__(self):
        if self.transport == "stdio":
            self.client = stdio(*self.flags)
        else:
            self.http = HttpServer(*self.flags)
            self.client = Client(self.http.url)
        return await self.client.__aenter__()

    async def __aexit__(self, *exc):
        try:
            return await self.client.__aexit__(*exc)
        finally:
            if self.http is not None:
                self.http.close()


@pytest.fixture
def http_server():
    s = HttpServer()
    yield s
    s.close()


TOOLS = {"run_python", "list_sessions", "reset_session", "close_session",
         "snapshot_session", "restore_session", "write_file", "read_file", "list_files"}


async def _basics(c):
    names = {t.name for t in (await c.list_tools()).tools}
    assert TOOLS <= names, names
    r = await py(c, "x = 41\nprint('hello')\nresult = x + 1")
    assert not r.is_error, r
    s = r.structured_content
    assert s["stdout"] == "hello\n" and s["result"] == 42 and s["error"] is None
    assert s["session_id"] == "default"
    assert "hello" in r.content[0].text and "42" in r.content[0].text
    # the default session keeps x; a new id is a session of its own
    r = await py(c, "result = x * 2")
    assert r.structured_content["result"] == 82
    r = await py(c, "result = x", session_id="other")
    assert r.is_error and r.structured_content["error"]["type"] == "NameError"
    assert "name 'x' is not defined" in r.content[0].text
    r = await py(c, "y = 'mine'", session_id="other")
    assert not r.is_error
    r = await py(c, "result = 'y' in dir()")
    assert r.structured_content["result"] is False
    rows = (await c.call_tool("list_sessions", {})).structured_content["sessions"]
    assert {row["session_id"] for row in rows} == {"default", "other"}


def test_stdio_tools_state_and_sessions():
    async def main():
        async with stdio() as c:
            await _basics(c)
    run(main())


def test_serve_without_http_is_the_same_stdio_server():
    async def main():
        async with stdio(sub="serve") as c:
            r = await py(c, "result = 6 * 7")
            assert r.structured_content["result"] == 42
            assert TOOLS <= {t.name for t in (await c.list_tools()).tools}
    run(main())


def test_http_tools_state_sessions_and_progress(http_server):
    async def main():
        async with Client(http_server.url) as c:
            await _basics(c)
            got = []

            async def progress(p, total, message):
                got.append(message)
            r = await py(c, "for i in range(3): print('line', i, flush=True)", progress=progress)
            assert not r.is_error
            assert "".join(got) == "line 0\nline 1\nline 2\n"
    run(main())


def test_error_traceback_is_the_users_code():
    async def main():
        async with stdio() as c:
            r = await py(c, "def f():\n    return 1 / 0\nf()")
            err = r.structured_content["error"]
            assert r.is_error and err["type"] == "ZeroDivisionError"
            assert 'line 2, in f' in err["traceback"] and "eryx_guest" not in err["traceback"]
            r = await py(c, "def g(:")
            assert r.is_error and r.structured_content["error"]["type"] == "SyntaxError"
    run(main())


def test_snapshot_then_restore_into_a_new_id():
    async def main():
        async with stdio() as c:
            await py(c, "data = {'n': 7}\nopen('/data/note.txt', 'w').write('kept')",
                     session_id="a")
            snap = await c.call_tool("snapshot_session", {"session_id": "a"})
            assert not snap.is_error, snap
            b64 = snap.structured_content["snapshot"]
            assert base64.b64decode(b64)
            r = await c.call_tool("restore_session", {"snapshot": b64, "session_id": "b"})
            assert not r.is_error, r
            r = await py(c, "result = [data['n'], open('/data/note.txt').read()]",
                         session_id="b")
            assert r.structured_content["result"] == [7, "kept"]
            r = await c.call_tool("restore_session", {"snapshot": "not base64!",
                                                      "session_id": "c"})
            assert r.is_error and "base64" in r.content[0].text
            r = await c.call_tool("restore_session",
                                  {"snapshot": base64.b64encode(b"junk").decode(),
                                   "session_id": "b"})
            assert r.is_error
            r = await py(c, "result = data", session_id="b")  # unchanged by the bad one
            assert r.structured_content["result"] == {"n": 7}
    run(main())


def test_files_round_trip():
    async def main():
        async with stdio() as c:
            r = await c.call_tool("write_file", {"path": "/data/in/hello.txt",
                                                 "content": "héllo"})
            assert not r.is_error, r
            raw = bytes(range(256))
            await c.call_tool("write_file", {"path": "blob.bin", "encoding": "base64",
                                             "content": base64.b64encode(raw).decode()})
            r = await py(c, "result = [open('/data/in/hello.txt').read(), "
                            "len(open('/data/blob.bin','rb').read())]\n"
                            "open('/data/out.txt','w').write('from code')")
            assert r.structured_content["result"] == ["héllo", 256]
            r = await c.call_tool("read_file", {"path": "/data/out.txt"})
            assert r.structured_content["content"] == "from code"
            r = await c.call_tool("read_file", {"path": "/data/blob.bin"})
            assert r.structured_content["encoding"] == "base64"
            assert base64.b64decode(r.structured_content["content"]) == raw
            files = (await c.call_tool("list_files", {})).structured_content["files"]
            paths = {f["path"] for f in files}
            assert {"/data/in/hello.txt", "/data/blob.bin", "/data/out.txt"} <= paths
            for bad in ("/etc/passwd", "/data/../etc/passwd"):
                r = await c.call_tool("read_file", {"path": bad})
                assert r.is_error and "outside /data" in r.content[0].text
            r = await c.call_tool("read_file", {"path": "/data/missing"})
            assert r.is_error
    run(main())


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_timeout_ends_the_run_and_limits_apply(transport):
    async def main():
        async with connect(transport, "--timeout", "20000") as c:
            t = time.monotonic()
            r = await py(c, "while True: pass", timeout_ms=300)
            assert r.is_error and r.structured_content["error"]["type"] == "TimeoutError"
            assert time.monotonic() - t < 10
            r = await py(c, "result = 1", timeout_ms=300)
            assert r.structured_content["result"] == 1
            r = await py(c, "result = 1", timeout_ms=50000)
            assert r.is_error and "20000" in r.content[0].text
    run(main())


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_cancellation_stops_the_code(transport):
    async def main():
        async with connect(transport, "--timeout", "60000") as c:
            started = anyio.Event()

            async def progress(p, total, message):
                started.set()

            async def long_run():
                await py(c, "print('started', flush=True)\nwhile True: pass",
                         session_id="s", progress=progress)

            async with anyio.create_task_group() as tg:
                tg.start_soon(long_run)
                with anyio.fail_after(30):
                    await started.wait()
                tg.cancel_scope.cancel()  # the client sends notifications/cancelled
            # The same session answers at once: the loop no longer holds it.
            t = time.monotonic()
            with anyio.fail_after(20):
                r = await py(c, "result = 'free'", session_id="s")
            assert r.structured_content["result"] == "free"
            assert time.monotonic() - t < 10
    run(main())


def test_progress_notifications_carry_output_while_it_runs():
    async def main():
        async with stdio() as c:
            got = []

            async def progress(p, total, message):
                got.append((time.monotonic(), p, message))
            r = await py(c, "import time, sys\nprint('first', flush=True)\n"
                            "print('oops', file=sys.stderr, flush=True)\n"
                            "time.sleep(1.0)\nprint('last', flush=True)", progress=progress)
            done = time.monotonic()
            assert not r.is_error, r
            messages = [m for _, _, m in got]
            assert "".join(m for m in messages if not m.startswith("[stderr]")) == \
                "first\nlast\n"
            assert "".join(m[len("[stderr] "):] for m in messages
                           if m.startswith("[stderr] ")) == "oops\n"
            assert [p for _, p, _ in got] == sorted(p for _, p, _ in got)
            first = next(t for t, _, m in got if m.startswith("first"))
            assert done - first > 0.8  # it came while the code was still running
            # no progress token: no notifications, same result
            r = await py(c, "print('quiet')")
            assert r.structured_content["stdout"] == "quiet\n"
    run(main())


def test_idle_session_is_evicted_and_says_so():
    async def main():
        async with stdio("--session-idle-timeout", "0.5") as c:
            await py(c, "v = 1", session_id="idle")
            await anyio.sleep(1.5)
            r = await py(c, "result = v", session_id="idle")
            assert r.is_error and "evicted" in r.content[0].text, r
            r = await c.call_tool("read_file", {"path": "x", "session_id": "idle"})
            assert r.is_error and "evicted" in r.content[0].text
            r = await c.call_tool("reset_session", {"session_id": "idle"})
            assert not r.is_error
            r = await py(c, "result = 'v' in dir()", session_id="idle")
            assert r.structured_content["result"] is False
        async with stdio("--max-sessions", "2") as c:
            await py(c, "pass", session_id="one")
            await py(c, "pass", session_id="two")
            r = await py(c, "pass", session_id="three")
            assert r.is_error and "max-sessions" in r.content[0].text
            await c.call_tool("close_session", {"session_id": "one"})
            r = await py(c, "result = 3", session_id="three")
            assert r.structured_content["result"] == 3
    run(main())


def test_malformed_requests_are_errors_not_crashes():
    async def main():
        async with stdio() as c:
            r = await c.call_tool("run_python", {})
            assert r.is_error
            r = await c.call_tool("run_python", {"code": 5})
            assert r.is_error
            r = await c.call_tool("run_python", {"code": "pass", "session_id": ""})
            assert r.is_error
            r = await c.call_tool("run_python", {"code": "pass", "timeout_ms": -1})
            assert r.is_error
            r = await c.call_tool("no_such_tool", {})
            assert r.is_error and "no_such_tool" in r.content[0].text
            r = await py(c, "result = 'alive'")
            assert r.structured_content["result"] == "alive"
    run(main())


def test_garbage_on_stdin_does_not_kill_the_server():
    p = subprocess.Popen([sys.executable, "-m", "eryx", "mcp"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "t", "version": "1"}}}
        p.stdin.write(b"this is not json\n{\"jsonrpc\": \"2.0\", \"id\": 9}\n")
        p.stdin.write(json.dumps(init).encode() + b"\n")
        p.stdin.flush()
        deadline = time.monotonic() + 60
        answers = []
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            msg = json.loads(line)
            answers.append(msg)
            if msg.get("id") == 1:
                break
        assert any(m.get("id") == 1 and "result" in m for m in answers), answers
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()


def test_without_the_sdk_a_one_line_hint_and_exit_2(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoMCP:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mcp' or name.startswith('mcp.'):\n"
        "            raise ImportError('No module named ' + repr(name))\n"
        "sys.meta_path.insert(0, _NoMCP())\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    for sub in ("mcp", "serve"):
        p = subprocess.run([sys.executable, "-m", "eryx", sub], capture_output=True,
                           env=env, timeout=60, stdin=subprocess.DEVNULL)
        assert p.returncode == 2, p
        assert p.stderr.decode().strip() == "eryx mcp needs the MCP SDK: pip install 'eryx[mcp]'"
        assert p.stdout == b""


def test_no_host_files_or_network_unless_granted(tmp_path):
    (tmp_path / "secret.txt").write_text("host secret")
    probe = ("import socket\nout = []\n"
             f"try:\n    out.append(open({str(tmp_path / 'secret.txt')!r}).read())\n"
             "except OSError as e:\n    out.append(type(e).__name__)\n"
             "try:\n    socket.create_connection(('93.184.216.34', 80), timeout=5)\n"
             "    out.append('connected')\n"
             "except OSError as e:\n    out.append('no network')\n"
             "result = out")

    async def main():
        async with stdio() as c:
            r = await py(c, probe)
            assert r.structured_content["result"] == ["FileNotFoundError", "no network"], r
        async with stdio("-v", f"{tmp_path}:{tmp_path}:ro") as c:
            r = await py(c, probe)
            assert r.structured_content["result"][0] == "host secret", r
    run(main())
