"""`eryx mcp` (and `eryx serve`): an MCP server whose tools run Python in
Eryx sessions.

Design:
- Built on the official MCP SDK (`mcp`, the 'mcp' extra, pinned with its
  dependencies in python/requirements-mcp.txt): its MCPServer registers
  the tools and speaks stdio or streamable HTTP. This module only maps
  tool calls onto eryx.Session; nothing here runs the client's code
  outside the sandbox.
- Sessions are keyed by id. A call without one uses the session named
  "default"; a new id creates a session (up to --max-sessions). Each
  session has its own VfsStorage mounted at /data, which write_file /
  read_file / list_files reach from the host side. A session idle longer
  than --session-idle-timeout is evicted and its id remembered, so a later
  call naming it is told so instead of silently getting an empty session.
- run_python runs the code with Session.execute_async on a thread of its
  own (the event loop keeps serving other requests). Output chunks go to
  the loop through call_soon_threadsafe and out as
  notifications/progress when the request carried a progress token. A
  notifications/cancelled makes the SDK cancel the handler; the handler
  then cancels the execution and waits (shielded) until the session is
  free again, so the next call on that session never overlaps it.
- Runs in one session are serialized by an asyncio.Lock; different
  sessions run in parallel.
- Every failure a client can cause (a bad id, a path outside /data, a
  snapshot that is not base64 or not a snapshot, a timeout above the
  server's) is a tool error with a message naming what was wrong; the SDK
  turns malformed requests into JSON-RPC errors.
- Code mode: with --mcp / --mcp-config, an eryx.mcp.MCPManager connects to
  the configured servers and every session gets their tools as callbacks
  (see eryx/mcp.py); run_python's description lists them.
"""

import argparse
import asyncio
import base64
import binascii
import posixpath
import sys
import time
from typing import Any, Dict, List, Optional

import eryx

from . import cli

INSTALL_HINT = "eryx mcp needs the MCP SDK: pip install 'eryx[mcp]'"
DEFAULT_SESSION = "default"
MOUNT = "/data"
_EVICTED_MEMORY = 10000  # evicted ids remembered (oldest forgotten first)


def _parse_hostport(text: str):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--http wants HOST:PORT (e.g. 127.0.0.1:8000), "
                                         f"not {text!r}")
    return host.strip("[]"), int(port)


def _positive_seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return v


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return int(text)


def _size(text: str) -> int:
    t = text.strip().upper().rstrip("B") or "0"
    unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1], 1)
    digits = t[:-1] if unit > 1 else t
    if not digits.isdigit() or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"not a size in bytes (e.g. 1048576 or 1M): {text!r}")
    return int(digits) * unit


def build_parser(prog: str = "eryx mcp") -> argparse.ArgumentParser:
    p = cli._Parser(prog=prog, description="An MCP server whose tools run Python in Eryx "
                    "sandboxes (stdio by default).",
                    epilog="With --http, `eryx serve` is the HTTP API (/v1, this MCP server "
                           "at /mcp) instead: `eryx serve --http HOST:PORT --help` lists its "
                           "flags." if prog == "eryx serve" else None)
    p.add_argument("--http", type=_parse_hostport, metavar="HOST:PORT",
                   help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    g = p.add_argument_group("sessions")
    g.add_argument("--timeout", type=cli._positive_ms, metavar="MS", default=30000,
                   help="longest one run_python may take, in ms (default 30000); a call's "
                        "timeout_ms may only lower it")
    g.add_argument("--max-memory", type=cli.parse_bytes, metavar="BYTES",
                   help="memory limit of each session: bytes, or 64M, 1G (default 128M)")
    g.add_argument("--max-sessions", type=_positive_int, default=16, metavar="N",
                   help="most sessions alive at once (default 16)")
    g.add_argument("--session-idle-timeout", type=_positive_seconds, default=1800.0,
                   metavar="SECONDS", help="evict a session idle this long (default 1800)")
    g.add_argument("--max-file-bytes", type=_size, default=64 << 20,
                   metavar="BYTES", help="quota of each session's /data (default 64M)")
    g = p.add_argument_group("networking and files (none by default)")
    g.add_argument("--net", action="store_true", help="allow connections to public hosts")
    g.add_argument("--allow-host", action="append", default=[], metavar="PATTERN",
                   help="allow hosts matching PATTERN (repeatable; implies --net)")
    g.add_argument("-v", "--volume", action="append", default=[], type=cli.parse_volume,
                   metavar="SRC:DST[:ro|:rw]", help="mount host path SRC at DST in every session")
    g = p.add_argument_group("code mode: other MCP servers' tools inside the sandbox")
    g.add_argument("--mcp", action="store_true", dest="discover",
                   help="connect to the MCP servers configured in the usual places "
                        "(see eryx.mcp.discover_servers)")
    g.add_argument("--mcp-config", action="append", default=[], metavar="FILE",
                   help="an mcpServers JSON file to connect to (repeatable)")
    g.add_argument("--callback-timeout", type=cli._positive_ms, metavar="MS",
                   help="longest one inner tool call may take, in ms (default 10000)")
    return p


def _ok(text: str, structured: Dict[str, Any], is_error: bool = False):
    from mcp.types import CallToolResult, TextContent
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=structured, is_error=is_error)


class ToolFailure(Exception):
    """A tool call the client got wrong; becomes an error result."""


class _Entry:
    def __init__(self, sid: str, session: "eryx.Session", vfs: "eryx.VfsStorage"):
        self.id = sid
        self.session = session
        self.vfs = vfs
        self.lock = asyncio.Lock()
        self.created = time.time()
        self.last_used = time.monotonic()
        self.runs = 0
        self.busy = False
        self.sink = None  # where the run in progress sends its output

    def emit(self, stream: int, chunk: bytes) -> None:  # on the execution's thread
        sink = self.sink
        if sink is not None:
            sink(stream, chunk)


class Sessions:
    """The server's sessions, their limits and the evicted ids."""

    def __init__(self, args, manager=None):
        self.args = args
        self.manager = manager
        self.entries: Dict[str, _Entry] = {}
        self.evicted: Dict[str, str] = {}

    def _kwargs(self) -> dict:
        a = self.args
        limits = eryx.ResourceLimits(execution_timeout_ms=a.timeout)
        if a.max_memory is not None:
            limits.max_memory_bytes = a.max_memory
        if a.callback_timeout is not None:
            limits.callback_timeout_ms = a.callback_timeout
        kw: Dict[str, Any] = {"resource_limits": limits}
        if a.net or a.allow_host:
            net = eryx.NetConfig(allowed_hosts=a.allow_host)
            if any(cli._is_loopback(h) for h in a.allow_host):
                net.allow_localhost()
            kw["network"] = net
        if a.volume:
            kw["volumes"] = a.volume
        if self.manager is not None:
            kw["mcp"] = self.manager
        return kw

    def sweep(self) -> None:
        """Evicts the sessions idle longer than --session-idle-timeout."""
        limit = self.args.session_idle_timeout
        now = time.monotonic()
        for sid, e in list(self.entries.items()):
            if not e.busy and not e.lock.locked() and now - e.last_used > limit:
                del self.entries[sid]
                self._remember(sid, f"session {sid!r} was evicted after {limit:g} s idle "
                               f"(at {time.strftime('%H:%M:%S', time.gmtime())} UTC); its "
                               f"variables and files are gone. reset_session({sid!r}) starts "
                               f"it again, empty")

    def _remember(self, sid: str, why: str) -> None:
        self.evicted.pop(sid, None)
        self.evicted[sid] = why
        while len(self.evicted) > _EVICTED_MEMORY:
            self.evicted.pop(next(iter(self.evicted)))

    def _check_id(self, sid: Optional[str]) -> str:
        if sid is None:
            return DEFAULT_SESSION
        if not isinstance(sid, str) or not sid or len(sid) > 200 or not sid.isprintable():
            raise ToolFailure("session_id must be a non-empty printable string of at most "
                              "200 characters")
        return sid

    def get(self, sid: Optional[str], create: bool = True, revive: bool = False) -> _Entry:
        self.sweep()
        sid = self._check_id(sid)
        e = self.entries.get(sid)
        if e is not None:
            e.last_used = time.monotonic()
            return e
        if sid in self.evicted and not revive:
            raise ToolFailure(self.evicted[sid])
        if not create:
            raise ToolFailure(f"no session {sid!r} (sessions: "
                              f"{', '.join(map(repr, self.entries)) or 'none'})")
        if len(self.entries) >= self.args.max_sessions:
            raise ToolFailure(f"cannot create session {sid!r}: {len(self.entries)} sessions are "
                              f"alive, the most --max-sessions allows; close_session one or let "
                              f"it idle out ({self.args.session_idle_timeout:g} s)")
        vfs = eryx.VfsStorage(quota_bytes=self.args.max_file_bytes)
        e = _Entry(sid, None, vfs)
        try:
            e.session = eryx.Session(vfs=vfs, on_stdout=lambda c: e.emit(1, c),
                                     on_stderr=lambda c: e.emit(2, c), **self._kwargs())
        except eryx.EryxError as exc:
            raise ToolFailure(f"could not create session {sid!r}: {exc}") from None
        self.evicted.pop(sid, None)
        self.entries[sid] = e
        return e

    def close(self, sid: str) -> None:
        self.entries.pop(sid, None)


_pool = None


def _executor():
    """The threads runs execute on (each blocks in Session.execute)."""
    global _pool
    if _pool is None:
        import concurrent.futures
        _pool = concurrent.futures.ThreadPoolExecutor(max_workers=64,
                                                      thread_name_prefix="eryx-mcp-run")
    return _pool


def _guest_path(path: str) -> str:
    """A path as the code sees it (/data/x, or x relative to /data) into
    the storage's own path; anything else is refused, naming it."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise ToolFailure("path must be a non-empty string")
    full = posixpath.normpath(path if path.startswith("/") else posixpath.join(MOUNT, path))
    if full == MOUNT:
        return "/"
    if not full.startswith(MOUNT + "/"):
        raise ToolFailure(f"{path!r} is outside {MOUNT}: the host-side file tools reach "
                          f"only the session's {MOUNT} tree")
    return full[len(MOUNT):]


def _error_info(exc) -> Dict[str, Any]:
    etype = getattr(exc, "error_type", "") or type(exc).__name__
    if isinstance(exc, eryx.TimeoutError):
        etype = "TimeoutError"
    elif isinstance(exc, eryx.CancelledError):
        etype = "CancelledError"
    return {"type": etype, "message": getattr(exc, "message", None) or str(exc),
            "traceback": getattr(exc, "traceback", "") or ""}


def _summary(out: str, err: str, result: Any, error: Optional[dict], truncated: bool) -> str:
    import json
    parts = []
    if out:
        parts.append(out.rstrip("\n"))
    if err:
        parts.append("[stderr]\n" + err.rstrip("\n"))
    if result is not None:
        parts.append("[result] " + json.dumps(result, ensure_ascii=False)[:4000])
    if error is not None and not (error["traceback"] and error["traceback"].strip() in err):
        parts.append(error["traceback"].rstrip() or f"{error['type']}: {error['message']}")
    if truncated:
        parts.append("[output truncated by the sandbox's output limit]")
    return "\n".join(parts) if parts else "(no output)"


def tool_description(manager) -> str:
    desc = ("Run Python 3.14 code in a persistent, isolated Eryx sandbox (WebAssembly; no "
            "host files or network unless the server was started with them). Variables, "
            "imports and functions persist per session_id (omit it for the default "
            "session). Top-level `await` works. print() output is returned (and streamed "
            "as progress notifications); the value of a variable named `result` is "
            "returned as JSON. Files under /data persist with the session "
            "(write_file/read_file/list_files).")
    if manager is not None:
        tools = manager.list_tools()
        if tools:
            desc += ("\n\nTools of other MCP servers, callable inside the sandbox with await "
                     "(run several at once with asyncio.gather; list_callbacks() lists them "
                     "with their schemas):")
            for t in tools:
                line = (t.get("description") or "").strip().splitlines()
                line = line[0] if line else ""
                if len(line) > 120:
                    line = line[:117] + "..."
                call = f'await mcp[{t["server"]!r}].{t["tool_ident"]}(...)'
                if t.get("alias"):
                    call += f' or await {t["alias"]}(...)'
                desc += f"\n- {call}" + (f": {line}" if line else "")
    return desc


def build_server(args, manager=None):
    """The MCPServer with eryx's tools (the transports are run by serve())."""
    from mcp.server.mcpserver import Context, MCPServer

    sessions = Sessions(args, manager)
    server = MCPServer("eryx", instructions="Run Python code in Eryx sandboxes: see the "
                       "run_python tool.", version=eryx.__version__)

    def failing(fn):
        """ToolFailure (and eryx errors) become error results, not crashes."""
        import functools

        @functools.wraps(fn)
        async def wrapper(*a, **kw):
            try:
                return await fn(*a, **kw)
            except ToolFailure as exc:
                return _ok(str(exc), {"error": {"type": "ToolError", "message": str(exc),
                                                "traceback": ""}}, is_error=True)
            except eryx.EryxError as exc:
                info = _error_info(exc)
                return _ok(f"{info['type']}: {info['message']}", {"error": info},
                           is_error=True)
        return wrapper

    @server.tool(description=tool_description(manager), structured_output=False)
    @failing
    async def run_python(code: str, session_id: Optional[str] = None,
                         timeout_ms: Optional[int] = None, ctx: Context = None):
        if not isinstance(code, str):
            raise ToolFailure("code must be a string")
        if timeout_ms is not None and (isinstance(timeout_ms, bool) or timeout_ms < 1
                                       or timeout_ms > args.timeout):
            raise ToolFailure(f"timeout_ms must be 1 to {args.timeout} (the server's "
                              f"--timeout), not {timeout_ms}")
        e = sessions.get(session_id)
        async with e.lock:
            e.busy = True
            try:
                return await _run(e, code, timeout_ms or args.timeout, ctx)
            finally:
                e.busy = False
                e.last_used = time.monotonic()

    async def _run(e: _Entry, code: str, timeout_ms: int, ctx):
        import anyio
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        fwd = None  # the task sending notifications, started by the first chunk

        def arrived(item) -> None:  # on the loop
            nonlocal fwd
            queue.put_nowait(item)
            if fwd is None:
                fwd = asyncio.ensure_future(forward())

        def sink(stream, chunk: bytes) -> None:  # on the execution's thread
            loop.call_soon_threadsafe(arrived, (stream, chunk))

        e.sink = sink
        e.session.execution_timeout_ms = timeout_ms
        progress = [0]

        async def forward():
            while True:
                item = await queue.get()
                if item is None:
                    return
                stream, chunk = item
                text = chunk.decode("utf-8", "replace")
                progress[0] += 1
                if ctx is not None:
                    try:
                        await ctx.report_progress(progress[0], None,
                                                  text if stream == 1 else "[stderr] " + text)
                    except Exception:  # noqa: BLE001 - a gone client: the result says it
                        pass

        # On a pooled thread (not a new one per run, as execute_async would).
        cf = _executor().submit(e.session.execute, code)
        result, error = None, None
        try:
            try:
                result = await asyncio.wrap_future(cf)
            except eryx.EryxError as exc:
                error = exc
            except BaseException:
                # Cancelled (notifications/cancelled, or the client left): stop the
                # code, and keep the session locked until it has really stopped.
                # cancel() again until it has: the first may come before the
                # code is inside the sandbox.
                if fwd is not None:
                    fwd.cancel()
                cf.cancel()  # not started yet: it never will
                with anyio.CancelScope(shield=True):
                    while not cf.done():
                        e.session.cancel()
                        await anyio.sleep(0.005)
                raise
            # The output's notifications go out before the result does.
            if fwd is not None:
                queue.put_nowait(None)
                try:
                    await asyncio.wait_for(fwd, 5.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            if fwd is not None:
                fwd.cancel()
            e.sink = None
            e.runs += 1
        r = result if result is not None else getattr(error, "result", None)
        stdout = (r.stdout if r is not None else b"").decode("utf-8", "replace")
        stderr = (r.stderr if r is not None else b"").decode("utf-8", "replace")
        value = None
        if result is not None:
            try:
                value = result.result
            except eryx.EryxError as exc:
                error = exc
        info = _error_info(error) if error is not None else None
        truncated = bool(r.output_truncated) if r is not None else False
        structured = {"session_id": e.id, "stdout": stdout, "stderr": stderr,
                      "result": value, "error": info,
                      "duration_ms": round(r.duration_ms, 3) if r is not None else None,
                      "output_truncated": truncated}
        if r is not None and r.result_error:
            structured["result_error"] = r.result_error
        return _ok(_summary(stdout, stderr, value, info, truncated), structured,
                   is_error=info is not None)

    @server.tool(description="List the live sessions: id, runs, seconds idle, bytes in /data.",
                 structured_output=False)
    @failing
    async def list_sessions():
        sessions.sweep()
        now = time.monotonic()
        rows = [{"session_id": e.id, "runs": e.runs, "busy": e.busy,
                 "idle_seconds": round(now - e.last_used, 1), "files_bytes": e.vfs.used_bytes}
                for e in sessions.entries.values()]
        text = "\n".join(f"{r['session_id']}: {r['runs']} runs, idle {r['idle_seconds']} s"
                         for r in rows) or "(no sessions)"
        return _ok(text, {"sessions": rows, "max_sessions": args.max_sessions})

    @server.tool(description="Start a session over with a fresh interpreter and an empty "
                 "/data (also brings back an evicted id).", structured_output=False)
    @failing
    async def reset_session(session_id: Optional[str] = None):
        sid = sessions._check_id(session_id)
        old = sessions.entries.get(sid)
        if old is not None:
            async with old.lock:
                sessions.close(sid)
        sessions.evicted.pop(sid, None)
        sessions.get(sid)
        return _ok(f"session {sid!r} reset", {"session_id": sid})

    @server.tool(description="Close a session, freeing its memory and files.",
                 structured_output=False)
    @failing
    async def close_session(session_id: str):
        e = sessions.get(session_id, create=False)
        async with e.lock:
            sessions.close(e.id)
        return _ok(f"session {e.id!r} closed", {"session_id": e.id})

    @server.tool(description="Snapshot a session's variables and /data files as base64 "
                 "bytes (restore_session takes them, also into another id).",
                 structured_output=False)
    @failing
    async def snapshot_session(session_id: Optional[str] = None,
                               skip_unserializable: bool = False):
        e = sessions.get(session_id, create=False)
        async with e.lock:
            data = e.session.snapshot_state(skip_unserializable=bool(skip_unserializable))
        skipped = list(getattr(e.session, "last_skipped", []) or [])
        b64 = base64.b64encode(data).decode("ascii")
        text = f"snapshot of {e.id!r}: {len(data)} bytes" + (
            f" (skipped: {', '.join(skipped)})" if skipped else "")
        return _ok(text, {"session_id": e.id, "snapshot": b64, "bytes": len(data),
                          "skipped": skipped})

    @server.tool(description="Restore a snapshot_session snapshot (base64) into a session, "
                 "creating it if new.", structured_output=False)
    @failing
    async def restore_session(snapshot: str, session_id: Optional[str] = None):
        try:
            data = base64.b64decode(snapshot, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ToolFailure("snapshot is not base64 (give the 'snapshot' field of "
                              "snapshot_session's result)") from None
        e = sessions.get(session_id, revive=True)
        async with e.lock:
            e.session.restore_state(data)
        return _ok(f"restored {len(data)} bytes into {e.id!r}", {"session_id": e.id})

    @server.tool(description="Write a file under the session's /data (content is text, or "
                 "base64 with encoding='base64').", structured_output=False)
    @failing
    async def write_file(path: str, content: str, session_id: Optional[str] = None,
                         encoding: str = "utf-8"):
        p = _guest_path(path)
        if encoding == "base64":
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise ToolFailure("content is not base64") from None
        elif encoding == "utf-8":
            data = content.encode("utf-8", "surrogatepass")
        else:
            raise ToolFailure(f"encoding must be 'utf-8' or 'base64', not {encoding!r}")
        if p == "/":
            raise ToolFailure(f"{path!r} is the {MOUNT} directory itself, not a file")
        e = sessions.get(session_id)
        e.vfs.write(p, data)
        return _ok(f"wrote {len(data)} bytes to {MOUNT}{p}",
                   {"session_id": e.id, "path": MOUNT + p, "bytes": len(data)})

    @server.tool(description="Read a file under the session's /data (text, or base64 when "
                 "it is not UTF-8).", structured_output=False)
    @failing
    async def read_file(path: str, session_id: Optional[str] = None):
        p = _guest_path(path)
        e = sessions.get(session_id, create=False)
        data = e.vfs.read(p)
        try:
            content, enc = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            content, enc = base64.b64encode(data).decode("ascii"), "base64"
        return _ok(content if enc == "utf-8" else f"(base64) {content}",
                   {"session_id": e.id, "path": MOUNT + p, "content": content,
                    "encoding": enc, "bytes": len(data)})

    @server.tool(description="List the files under the session's /data (or under path).",
                 structured_output=False)
    @failing
    async def list_files(session_id: Optional[str] = None, path: str = MOUNT):
        p = _guest_path(path).strip("/")
        e = sessions.get(session_id, create=False)
        rows = [{"path": f"{MOUNT}/{name}", "is_dir": is_dir, "size": size}
                for name, is_dir, size in e.vfs.files()
                if not p or name == p or name.startswith(p + "/")]
        text = "\n".join(f"{r['path']}{'/' if r['is_dir'] else ''} {r['size']}"
                         for r in rows) or "(no files)"
        return _ok(text, {"session_id": e.id, "files": rows})

    if manager is not None:
        @server.tool(description="List the tools of other MCP servers that sandboxed code "
                     "can call, with their input schemas.", structured_output=False)
        @failing
        async def list_callbacks():
            rows = [{"name": t["name"], "alias": t.get("alias"), "server": t["server"],
                     "tool": t["tool"], "description": t.get("description", ""),
                     "schema": t.get("schema", {})} for t in manager.list_tools()]
            return _ok("\n".join(f"{r['name']}: {r['description']}" for r in rows)
                       or "(none)", {"callbacks": rows})

    server._eryx_sessions = sessions  # for the idle sweeper
    return server


async def _sweeper(sessions: Sessions) -> None:
    period = min(max(sessions.args.session_idle_timeout / 4, 0.05), 30.0)
    while True:
        await asyncio.sleep(period)
        sessions.sweep()


async def _serve(server, args) -> None:
    sweeper = asyncio.ensure_future(_sweeper(server._eryx_sessions))
    try:
        if args.http:
            host, port = args.http
            if not cli._is_loopback(host):
                print(f"eryx mcp: serving on {host}:{port} without authentication: anyone "
                      f"who reaches it can run code in its sandboxes", file=sys.stderr)
            await server.run_streamable_http_async(host=host, port=port)
        else:
            await server.run_stdio_async()
    finally:
        sweeper.cancel()


def main(argv: Optional[List[str]] = None, prog: str = "eryx mcp") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return cli.EXIT_USAGE
    manager = None
    if args.discover or args.mcp_config:
        from .mcp import MCPError, connect_servers, discover_servers
        if args.mcp_config:  # a file named on the command line must be right
            try:
                discover_servers(args.mcp_config)
            except MCPError as exc:
                print(f"eryx: --mcp-config: {exc}", file=sys.stderr)
                return cli.EXIT_USAGE
        manager = connect_servers(args.mcp_config or None, report=sys.stderr)
    try:
        server = build_server(args, manager)
        import anyio
        anyio.run(_serve, server, args)
    except KeyboardInterrupt:
        pass
    finally:
        if manager is not None:
            manager.close()
    return cli.EXIT_OK
