"""Code mode: sandboxed code calls the tools of another MCP server, a real
one (mcp_fixture_server.py, written with the SDK's server API, in its own
process), through eryx.mcp.MCPManager and through `eryx mcp --mcp-config`.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import anyio
import mcp  # noqa: F401 - missing: fail, not skip
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

import eryx
from eryx.mcp import MCPError, MCPManager, discover_servers, ident

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "mcp_fixture_server.py")
NAME = "test-fixture"  # not an identifier on purpose


@pytest.fixture
def manager():
    m = MCPManager()
    n = m.connect(NAME, sys.executable, [FIXTURE, "--marker", "stdio"], {})
    assert n == 5
    yield m
    m.close()


def test_manager_lists_tools_and_sandbox_calls_them(manager):
    assert manager.server_names == [NAME]
    tools = {t["tool"]: t for t in manager.list_tools()}
    assert set(tools) == {"fast", "slow", "pid", "broken", "dashed-name"}
    assert tools["fast"]["name"] == "mcp.test_fixture.fast"
    assert tools["fast"]["alias"] == "test_fixture__fast"
    assert tools["fast"]["description"] == "Doubles x, quickly."
    assert tools["fast"]["schema"]["properties"]["x"]["type"] == "integer"
    sb = eryx.Sandbox(mcp=manager)
    r = sb.execute(
        'a = await mcp["test-fixture"].fast(x=21)\n'
        'b = await mcp.test_fixture.fast(x=1)\n'
        'c = await test_fixture__fast(x=2)\n'
        'd = await mcp["test-fixture"]["dashed-name"]()\n'
        'names = sorted(cb["name"] for cb in list_callbacks())\n'
        'result = [a, b["doubled"], c["doubled"], d, names]')
    a, b, c, d, names = r.result
    assert a == {"doubled": 42, "marker": "stdio"} and b == 2 and c == 4
    assert d == {"result": "dashed ok"}
    assert "mcp.test_fixture.slow" in names and "test_fixture__slow" in names


def test_schema_is_checked_and_tool_errors_are_callback_errors(manager):
    s = eryx.Session(mcp=manager)
    r = s.execute(
        'out = []\n'
        'for call in (lambda: mcp["test-fixture"].fast(x="no"),\n'
        '             lambda: mcp["test-fixture"].fast(),\n'
        '             lambda: mcp["test-fixture"].broken()):\n'
        '    try:\n'
        '        await call()\n'
        '    except CallbackError as e:\n'
        '        out.append(str(e))\n'
        'try:\n'
        '    mcp["nope"]\n'
        'except KeyError as e:\n'
        '    out.append("KeyError")\n'
        'result = out')
    bad_type, missing, broken, keyerror = r.result
    assert "expected integer" in bad_type and "missing required argument 'x'" in missing
    assert "broken on purpose" in broken and "test-fixture" in broken
    assert keyerror == "KeyError"


def test_ten_slow_calls_run_in_parallel(manager):
    s = eryx.Session(mcp=manager)
    r = s.execute(
        'import asyncio, time\n'
        't = time.monotonic()\n'
        'got = await asyncio.gather(*[mcp["test-fixture"].slow(delay=0.5, tag=str(i))\n'
        '                             for i in range(10)])\n'
        'result = [time.monotonic() - t, [g["tag"] for g in got]]')
    took, tags = r.result
    assert tags == [str(i) for i in range(10)]
    assert took < 2.5, took  # 10 x 0.5 s one after another would be 5 s


def test_callback_timeout_applies_to_inner_calls(manager):
    limits = eryx.ResourceLimits(callback_timeout_ms=300)
    sb = eryx.Sandbox(mcp=manager, resource_limits=limits)
    t = time.monotonic()
    r = sb.execute('try:\n    await mcp["test-fixture"].slow(delay=20)\n'
                   'except CallbackTimeoutError as e:\n    result = "timed out"')
    assert r.result == "timed out" and time.monotonic() - t < 5
    # the manager still works after the abandoned call
    r = sb.execute('result = (await mcp["test-fixture"].fast(x=5))["doubled"]')
    assert r.result == 10


def test_a_killed_server_gives_a_clear_error_not_a_hang(manager):
    s = eryx.Session(mcp=manager, execution_timeout_ms=60000)
    pid = s.execute('result = (await mcp["test-fixture"].pid())["pid"]').result
    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    t = time.monotonic()
    r = s.execute('try:\n    await mcp["test-fixture"].slow(delay=30)\n'
                  'except CallbackError as e:\n    result = str(e)')
    assert time.monotonic() - t < 10
    assert "test-fixture" in r.result and "stopped" in r.result, r.result
    r = s.execute('try:\n    await mcp["test-fixture"].fast(x=1)\n'
                  'except CallbackError as e:\n    result = str(e)')
    assert "test-fixture" in r.result and "stopped" in r.result, r.result
    assert manager.server_names == []
    # a sandbox made afterwards is told the same, not that the tool is missing
    r = eryx.Sandbox(mcp=manager).execute(
        'try:\n    await mcp["test-fixture"].fast(x=1)\n'
        'except CallbackError as e:\n    result = str(e)')
    assert "stopped" in r.result, r.result
    assert manager.connect(NAME, sys.executable, [FIXTURE]) == 5  # back again
    r = eryx.Sandbox(mcp=manager).execute('result = await test_fixture__fast(x=3)')
    assert r.result["doubled"] == 6


def test_stubs_declare_the_tools(manager):
    text = manager.stubs()
    assert "async def fast(self, *, x: int) -> Any:" in text
    assert "async def test_fixture__slow(*, delay: float, tag: str = ...) -> Any: ..." in text
    compile(text, "mcp.pyi", "exec")


def test_connect_errors_are_named():
    m = MCPManager()
    try:
        with pytest.raises(MCPError, match="failed to start|stopped"):
            m.connect("gone", sys.executable, ["-c", "import sys; sys.exit(3)"], {}, 20)
        m.connect("a-b", sys.executable, [FIXTURE], {})
        with pytest.raises(MCPError, match="both become 'a_b'"):
            m.connect("a_b", sys.executable, [FIXTURE], {})
    finally:
        m.close()


def test_streamable_http_server_with_headers():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = subprocess.Popen([sys.executable, FIXTURE, "--http", str(port), "--marker", "http"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and p.poll() is None
                time.sleep(0.1)
        with MCPManager() as m:
            m.connect("web", url=f"http://127.0.0.1:{port}/mcp",
                      headers={"X-Test": "1"})
            r = eryx.Sandbox(mcp=m).execute('result = await mcp["web"].fast(x=3)')
            assert r.result == {"doubled": 6, "marker": "http"}
    finally:
        p.kill()
        p.wait()


def test_discovery_order_formats_and_env_expansion(tmp_path, monkeypatch):
    home, proj = tmp_path / "home", tmp_path / "proj"
    (home / ".cursor").mkdir(parents=True)
    (proj / ".vscode").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(proj)
    monkeypatch.setenv("ERYX_T_TOKEN", "s3cret")
    monkeypatch.delenv("ERYX_T_UNSET", raising=False)
    (home / ".claude.json").write_text(json.dumps({"mcpServers": {
        "shared": {"command": "global-cmd"},
        "only-global": {"command": "g", "args": ["--token=${ERYX_T_TOKEN}"]},
        "off": {"command": "x", "disabled": True}}}))
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        "web": {"type": "http", "url": "https://example.com/${ERYX_T_UNSET:-mcp}",
                "headers": {"Authorization": "Bearer ${ERYX_T_TOKEN}"}}}}))
    (proj / ".mcp.json").write_text(json.dumps({"mcpServers": {
        "shared": {"command": "project-cmd", "env": {"K": "$ERYX_T_TOKEN"}}}}))
    (proj / ".vscode" / "mcp.json").write_text(json.dumps({"servers": {
        "vs": {"command": "code-server", "args": []}}}))
    found = discover_servers()
    assert found["shared"] == {"command": "project-cmd", "args": [], "env": {"K": "s3cret"}}
    assert found["only-global"]["args"] == ["--token=s3cret"]
    assert found["web"] == {"url": "https://example.com/mcp",
                            "headers": {"Authorization": "Bearer s3cret"}}
    assert "vs" in found and "off" not in found
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"mcpServers": {"x": {"command": "${ERYX_T_UNSET}"}}}))
    with pytest.raises(MCPError, match="ERYX_T_UNSET is not set"):
        discover_servers([bad])
    errors = []
    assert discover_servers([bad], errors=errors) == {} and "ERYX_T_UNSET" in errors[0]


def test_ident_rule():
    assert ident("my-server") == "my_server" and ident("9lives") == "_9lives"
    assert ident("ok_name") == "ok_name"


def test_eryx_mcp_with_mcp_config_exposes_inner_tools(tmp_path):
    cfg = tmp_path / "servers.json"
    cfg.write_text(json.dumps({"mcpServers": {NAME: {
        "command": sys.executable, "args": [FIXTURE, "--marker", "${ERYX_T_MARK}"]}}}))
    env = dict(os.environ, ERYX_T_MARK="from-config")

    async def main():
        params = StdioServerParameters(command=sys.executable,
                                       args=["-m", "eryx", "mcp", "--mcp-config", str(cfg)],
                                       env=env)
        async with Client(params) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            desc = tools["run_python"].description
            assert "await mcp['test-fixture'].fast(...) or await test_fixture__fast(...)" \
                in desc and "Doubles x, quickly." in desc
            assert "list_callbacks" in tools
            listed = (await c.call_tool("list_callbacks", {})).structured_content
            assert {r["tool"] for r in listed["callbacks"]} >= {"fast", "slow"}
            r = await c.call_tool("run_python", {"code": (
                'import asyncio, time\nt = time.monotonic()\n'
                'await asyncio.gather(*[test_fixture__slow(delay=0.4) for _ in range(10)])\n'
                'result = [(await mcp["test-fixture"].fast(x=4)), time.monotonic() - t]')})
            assert not r.is_error, r
            value, took = r.structured_content["result"]
            assert value == {"doubled": 8, "marker": "from-config"} and took < 2.0
    anyio.run(main)


def test_a_bad_mcp_config_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"mcpServers": {"x": {"args": []}}}')
    for cfg, why in ((bad, "needs a command"), (tmp_path / "missing.json", "missing.json")):
        p = subprocess.run([sys.executable, "-m", "eryx", "mcp", "--mcp-config", str(cfg)],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        assert p.returncode == 2 and why in p.stderr.decode(), p
