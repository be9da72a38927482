"""Code mode: other MCP servers' tools as callbacks inside the sandbox.

    manager = eryx.mcp.MCPManager()
    manager.connect("github", "github-mcp-server", ["stdio"], {"TOKEN": "..."})
    session = eryx.Session(mcp=manager)
    session.execute('issues = await mcp["github"].search_issues(query="bug")')

Design:
- MCPManager speaks to each server with the official SDK's Client (stdio:
  a child process; HTTP: streamable HTTP with the configured headers). The
  SDK is anyio-based and a Client must be entered and left in one task, so
  the manager owns an event loop in a daemon thread, and each server is a
  task there that holds its Client open until close(). Tool calls from the
  sandbox's callback loop are handed over with run_coroutine_threadsafe:
  any number run at once (asyncio.gather inside the sandbox), and a call
  the sandbox abandons (its timeout, cancel) cancels the SDK request.
- Each tool becomes two callbacks: `mcp.<server>.<tool>` (so the code
  writes `await mcp["server"].tool(...)` or `mcp.server.tool(...)`) and
  the flat alias `<server>__<tool>`, both with the tool's input schema and
  description. Callback names must be Python identifiers (src/callbacks.c),
  so other characters become "_" (ident()); the guest's namespaces apply
  the same rule to `mcp["my-server"]`. Two names that come out the same,
  or a server name that cannot make an alias, are errors at connect, not
  silent shadowing.
- A tool's answer: its structuredContent if it has one, else the text of
  a single text block, else the content blocks as dicts. An isError
  answer, a call to a server that has exited, or a server that exits
  while calls wait, fails the call with a message naming the server (the
  code sees eryx's CallbackError); nothing waits forever.
- discover_servers() reads the configuration files of the usual clients,
  later sources overriding earlier ones (SOURCES); `${VAR}` and
  `${VAR:-default}` are expanded from the environment, and an unset
  variable without a default is an error naming it.
"""

import asyncio
import json
import os
import re
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

__all__ = ["MCPManager", "MCPError", "discover_servers", "connect_servers", "ident",
           "default_sources"]


class MCPError(RuntimeError):
    """An MCP server could not be configured, reached or used."""


_CONNECTION_CLOSED = -32000  # the SDK's MCPError code (mcp_types.CONNECTION_CLOSED)
_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")


def ident(name: str) -> str:
    """`name` as a Python identifier: other characters become "_", and a
    name starting with a digit gets "_" in front. The guest's
    `namespace[key]` does the same (guest/eryx_guest/callbacks.py)."""
    s = _NOT_IDENT.sub("_", name)
    return "_" + s if not s or s[0].isdigit() else s


# ---- configuration ----

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def expand(value: str, where: str) -> str:
    """${VAR}, ${VAR:-default} and $VAR from the environment."""
    def sub(m):
        name = m.group(1) or m.group(3)
        got = os.environ.get(name)
        if got:
            return got
        if m.group(2) is not None:
            return m.group(2)
        if got == "":
            return ""
        raise MCPError(f"{where}: the environment variable {name} is not set")
    return _VAR.sub(sub, value)


def default_sources(home: Optional[Path] = None, cwd: Optional[Path] = None):
    """(path, key, format) of the configuration files discover_servers()
    reads, in order (later ones override earlier): user-wide files first,
    then the project's (the current directory)."""
    home = Path.home() if home is None else home
    cwd = Path.cwd() if cwd is None else cwd
    return [
        (home / ".claude.json", "mcpServers", "json"),                 # Claude Code
        (home / ".cursor" / "mcp.json", "mcpServers", "json"),         # Cursor
        (home / ".codeium" / "windsurf" / "mcp_config.json", "mcpServers", "json"),
        (home / ".config" / "zed" / "settings.json", "context_servers", "json"),  # Zed
        (home / ".gemini" / "settings.json", "mcpServers", "json"),    # Gemini CLI
        (home / ".codex" / "config.toml", "mcp_servers", "toml"),      # Codex
        (cwd / ".mcp.json", "mcpServers", "json"),
        (cwd / ".cursor" / "mcp.json", "mcpServers", "json"),
        (cwd / ".vscode" / "mcp.json", "servers", "json"),             # VS Code
        (cwd / ".zed" / "settings.json", "context_servers", "json"),
        (cwd / ".gemini" / "settings.json", "mcpServers", "json"),
        (cwd / ".codex" / "config.toml", "mcp_servers", "toml"),
    ]


def _load(path: Path, fmt: str):
    text = path.read_text(encoding="utf-8")
    if fmt == "toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise MCPError(f"{path}: reading TOML needs Python 3.11+") from None
        return tomllib.loads(text)
    if path.name == "settings.json":  # Zed's and VS Code's allow // comments
        text = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    return json.loads(text)


def normalize_server(name: str, cfg: Any, where: str) -> Optional[dict]:
    """One server's entry as {"command", "args", "env"} or {"url",
    "headers"}; None when it is disabled. Raises MCPError naming what is
    wrong."""
    if not isinstance(cfg, dict):
        raise MCPError(f"{where}: server {name!r} is not an object")
    if cfg.get("disabled") is True or cfg.get("enabled") is False:
        return None
    kind = cfg.get("type") or cfg.get("transport")
    url = cfg.get("url") or cfg.get("serverUrl") or cfg.get("httpUrl")
    command = cfg.get("command")
    if isinstance(command, dict):  # Zed's older {"command": {"path", "args", "env"}}
        cfg = dict(cfg, args=command.get("args", []), env=command.get("env", {}))
        command = command.get("path")
    w = f"{where}: server {name!r}"
    if command and kind in (None, "stdio"):
        args = cfg.get("args") or []
        env = cfg.get("env") or {}
        if not isinstance(command, str) or not isinstance(args, list) or \
                not all(isinstance(a, str) for a in args):
            raise MCPError(f"{w}: command must be a string and args a list of strings")
        if not isinstance(env, dict):
            raise MCPError(f"{w}: env must be an object")
        return {"command": expand(command, w), "args": [expand(a, w) for a in args],
                "env": {str(k): expand(str(v), w) for k, v in env.items()}}
    if url and kind in (None, "http", "streamable-http", "streamableHttp", "sse"):
        if kind == "sse":
            raise MCPError(f"{w}: the old SSE transport is not supported (streamable HTTP is)")
        headers = cfg.get("headers") or {}
        if not isinstance(url, str) or not isinstance(headers, dict):
            raise MCPError(f"{w}: url must be a string and headers an object")
        return {"url": expand(url, w),
                "headers": {str(k): expand(str(v), w) for k, v in headers.items()}}
    raise MCPError(f"{w}: needs a command (stdio) or a url (HTTP)"
                   + (f"; type {kind!r} is not supported" if kind else ""))


def discover_servers(config_paths: Optional[Sequence[Any]] = None, *,
                     errors: Optional[List[str]] = None) -> Dict[str, dict]:
    """{name: config} of the servers configured in `config_paths` (each a
    JSON file with "mcpServers", or "servers" as VS Code writes), or by
    default in default_sources(). Later files override earlier ones.
    Problems (unreadable file, bad entry) raise MCPError, unless `errors`
    is a list: then each is appended to it and that entry skipped."""
    if config_paths is not None:
        if isinstance(config_paths, (str, os.PathLike)):
            config_paths = [config_paths]
        sources = [(Path(p), None, "json") for p in config_paths]
        explicit = True
    else:
        sources = default_sources()
        explicit = False
    servers: Dict[str, dict] = {}

    def problem(msg):
        if errors is None:
            raise MCPError(msg)
        errors.append(msg)

    for path, key, fmt in sources:
        if not explicit and not path.is_file():
            continue
        try:
            data = _load(path, fmt)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            problem(f"{path}: {exc}")
            continue
        except MCPError as exc:
            problem(str(exc))
            continue
        if key is None:
            key = next((k for k in ("mcpServers", "servers") if k in data), "mcpServers") \
                if isinstance(data, dict) else "mcpServers"
        table = data.get(key) if isinstance(data, dict) else None
        if table is None:
            if explicit:
                problem(f"{path}: no {key!r} object")
            continue
        if not isinstance(table, dict):
            problem(f"{path}: {key!r} is not an object")
            continue
        for name, cfg in table.items():
            try:
                norm = normalize_server(name, cfg, str(path))
            except MCPError as exc:
                problem(str(exc))
                continue
            if norm is None:
                servers.pop(name, None)
            else:
                servers[name] = norm
    return servers


# ---- connections ----

def _answer(result) -> Any:
    """A CallToolResult as the value the sandboxed code receives."""
    if result.structured_content is not None:
        return result.structured_content
    blocks = [b.model_dump(mode="json", by_alias=True, exclude_none=True)
              for b in result.content]
    if len(blocks) == 1 and blocks[0].get("type") == "text":
        return blocks[0].get("text", "")
    return blocks


def _error_text(result) -> str:
    texts = [getattr(b, "text", "") for b in result.content if getattr(b, "text", None)]
    return "; ".join(texts) or "the tool reported an error"


class _Server:
    def __init__(self, name: str, config: dict):
        self.name = name
        self.ident = ident(name)
        self.config = config
        self.client = None
        self.tools: List[Any] = []
        self.dead: Optional[str] = None  # why it stopped, once it has
        self.dead_event = asyncio.Event()
        self.stop = asyncio.Event()
        self.task: Optional[asyncio.Task] = None


class MCPManager:
    """Connections to MCP servers whose tools sandboxes get as callbacks
    (Sandbox(mcp=manager), Session(mcp=manager)). Methods are plain
    (blocking) calls, usable from any thread."""

    def __init__(self, call_timeout: Optional[float] = None) -> None:
        """`call_timeout`: seconds one tool call may take (None: only the
        sandbox's callback_timeout_ms limits it)."""
        self._call_timeout = call_timeout
        self._servers: Dict[str, _Server] = {}
        self._pending: set = set()  # names being connected
        self._loop = asyncio.new_event_loop()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run_loop, name="eryx-mcp", daemon=True)
        self._thread.start()

    def _run_loop(self) -> None:
        from .callbacks import _block_async_signals
        _block_async_signals()
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _submit(self, coro) -> Future:
        if self._closed:
            coro.close()
            raise MCPError("the MCPManager is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    @property
    def server_names(self) -> List[str]:
        return [s.name for s in self._servers.values() if s.dead is None]

    def connect(self, name: str, command: Optional[str] = None,
                args: Sequence[str] = (), env: Optional[Dict[str, str]] = None,
                timeout_secs: float = 30.0, *, url: Optional[str] = None,
                headers: Optional[Dict[str, str]] = None) -> int:
        """Starts `command args` as a stdio MCP server (its environment: the
        SDK's default one, PATH, HOME, USER and the like, not all of this
        process's variables, plus `env`), or connects to the streamable
        HTTP server at `url` (with `headers`); returns its number of tools.
        Raises MCPError (the server did not start or answer within
        `timeout_secs`, or its names clash)."""
        if not isinstance(name, str) or not name:
            raise MCPError("a server needs a non-empty name")
        if (command is None) == (url is None):
            raise MCPError(f"server {name!r}: give a command or a url (not both)")
        with self._lock:
            old = self._servers.get(name)
            if old is not None and old.dead is not None:  # reconnecting a stopped one
                del self._servers[name]
            taken = {s.ident: s.name for s in self._servers.values()}
            taken.update({ident(p): p for p in self._pending})
            if name in self._servers or name in self._pending:
                raise MCPError(f"a server named {name!r} is already connected")
            if ident(name) in taken:
                raise MCPError(f"servers {taken[ident(name)]!r} and {name!r} both become "
                               f"{ident(name)!r} in the sandbox; rename one")
            config = ({"command": command, "args": list(args), "env": dict(env or {})}
                      if command is not None else {"url": url, "headers": dict(headers or {})})
            fut = self._submit(self._start(name, config, float(timeout_secs)))
            self._pending.add(name)
        try:
            server = fut.result(timeout_secs + 5)
        except MCPError:
            raise
        except Exception as exc:  # noqa: BLE001 - named for the caller
            raise MCPError(f"server {name!r}: {type(exc).__name__}: {exc}") from None
        finally:
            with self._lock:
                self._pending.discard(name)
        return len(server.tools)

    async def _start(self, name: str, config: dict, timeout: float) -> _Server:
        s = _Server(name, config)
        ready: asyncio.Future = asyncio.get_running_loop().create_future()
        s.task = asyncio.ensure_future(self._hold(s, ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), timeout)
        except asyncio.TimeoutError:
            s.stop.set()
            s.task.cancel()
            raise MCPError(f"server {name!r} did not answer within {timeout:g} s") from None
        seen: Dict[str, str] = {}
        for t in s.tools:
            i = ident(t.name)
            if i in seen:
                s.stop.set()
                raise MCPError(f"server {name!r}: tools {seen[i]!r} and {t.name!r} both "
                               f"become {i!r} in the sandbox")
            seen[i] = t.name
        self._servers[name] = s
        return s

    def _client(self, config: dict):
        from mcp import Client
        if "command" in config:
            from mcp.client.stdio import StdioServerParameters
            return Client(StdioServerParameters(command=config["command"],
                                                args=config["args"], env=config["env"] or None))
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client
        http = create_mcp_http_client(headers=config["headers"] or None)
        return Client(streamable_http_client(config["url"], http_client=http))

    async def _hold(self, s: _Server, ready: asyncio.Future) -> None:
        """Keeps the server's connection open until close() or its end."""
        why = "closed"
        try:
            async with self._client(s.config) as client:
                listed = await client.list_tools()
                tools = list(listed.tools)
                cursor = getattr(listed, "next_cursor", None)
                while cursor:
                    listed = await client.list_tools(cursor=cursor)
                    tools += listed.tools
                    cursor = getattr(listed, "next_cursor", None)
                s.client, s.tools = client, tools
                if not ready.done():
                    ready.set_result(s)
                await s.stop.wait()
        except BaseException as exc:  # noqa: BLE001 - recorded, then reported to callers
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, BaseExceptionGroup if sys.version_info >= (3, 11) else ()):
                why = "; ".join(f"{type(e).__name__}: {e}" for e in exc.exceptions)
            if not ready.done():
                ready.set_exception(MCPError(f"server {s.name!r} failed to start: {why}"))
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            s.dead = s.dead or (f"the MCP server {s.name!r} has stopped ({why})"
                                if why != "closed" else f"the MCP server {s.name!r} was closed")
            s.dead_event.set()
            if not ready.done():
                ready.set_exception(MCPError(s.dead))

    def list_tools(self) -> List[Dict[str, Any]]:
        """Every tool of the connected servers: name (the callback name,
        `mcp.<server>.<tool>`), alias (`<server>__<tool>`, None when the
        server's name cannot start one), server, tool, tool_ident,
        description, schema and alive. A server that has stopped keeps its
        tools here (alive False), so that code calling them is told it
        stopped rather than that they do not exist."""
        out = []
        for s in list(self._servers.values()):
            for t in s.tools:
                ti = ident(t.name)
                alias = f"{s.ident}__{ti}" if not s.ident.startswith("_") else None
                out.append({"name": f"mcp.{s.ident}.{ti}", "alias": alias, "server": s.name,
                            "tool": t.name, "tool_ident": ti,
                            "description": (t.description or "").strip(),
                            "schema": t.input_schema or {"type": "object"},
                            "alive": s.dead is None})
        return out

    def callbacks(self) -> List[Dict[str, Any]]:
        """The tools as eryx callback dicts (name, fn, description, schema):
        what Sandbox(mcp=...) registers."""
        out = []
        for t in self.list_tools():
            fn = self._caller(t["server"], t["tool"])
            desc = t["description"].splitlines()[0] if t["description"] else ""
            out.append({"name": t["name"], "fn": fn, "description": desc,
                        "schema": t["schema"]})
            if t["alias"]:
                out.append({"name": t["alias"], "fn": fn, "description": desc,
                            "schema": t["schema"]})
        return out

    def _caller(self, server: str, tool: str):
        async def call_tool(**arguments):
            fut = self._submit(self._call(server, tool, arguments))
            return await asyncio.wrap_future(fut)
        call_tool.__name__ = ident(tool)
        return call_tool

    async def _call(self, server: str, tool: str, arguments: dict) -> Any:
        s = self._servers.get(server)
        if s is None:
            raise MCPError(f"no MCP server named {server!r}")
        if s.dead is not None:
            raise MCPError(s.dead)
        call = asyncio.ensure_future(s.client.call_tool(
            tool, arguments, read_timeout_seconds=self._call_timeout))
        died = asyncio.ensure_future(s.dead_event.wait())
        try:
            done, _ = await asyncio.wait({call, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            died.cancel()
            if not call.done():
                call.cancel()
        if call not in done:
            raise MCPError(f"{s.dead} while {server}.{tool}() was waiting for its answer")
        try:
            result = call.result()
        except Exception as exc:  # noqa: BLE001 - the SDK's error, named
            if s.dead is None and getattr(exc, "code", None) == _CONNECTION_CLOSED:
                # The process exited or the stream broke: the connection is
                # gone for good, later calls fail at once.
                s.dead = f"the MCP server {server!r} has stopped (its connection closed)"
                s.dead_event.set()
                s.stop.set()
            if s.dead is not None:
                raise MCPError(f"{s.dead} while {server}.{tool}() was waiting") from None
            raise MCPError(f"{server}.{tool}(): {type(exc).__name__}: {exc}") from None
        if result.is_error:
            raise MCPError(f"{server}.{tool}() failed: {_error_text(result)}")
        return _answer(result)

    def stubs(self) -> str:
        """A .pyi text declaring the tools as the sandboxed code sees them
        (for an editor, or to show a model)."""
        lines = ['"""MCP tools available inside the Eryx sandbox (generated)."""',
                 "from typing import Any", ""]
        by_server: Dict[str, List[dict]] = {}
        for t in self.list_tools():
            by_server.setdefault(t["server"], []).append(t)
        for server, tools in by_server.items():
            cls = "_" + ident(server) + "_tools"
            lines.append(f"class {cls}:")
            lines.append(f'    """Tools of the MCP server {server!r}: mcp[{server!r}]."""')
            for t in tools:
                lines.append(f"    async def {t['tool_ident']}(self{_params(t['schema'])}) -> Any:")
                lines.append(f"        {_doc(t['description'])}")
            lines.append("")
        lines.append("class _MCP:")
        for server in by_server:
            cls = "_" + ident(server) + "_tools"
            lines.append(f"    {ident(server)}: {cls}")
        lines.append("    def __getitem__(self, server: str) -> Any: ...")
        lines += ["", "mcp: _MCP", ""]
        for t in self.list_tools():
            if t["alias"]:
                lines.append(f"async def {t['alias']}({_params(t['schema'], first=True)})"
                             f" -> Any: ...")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        """Ends every connection (stdio servers are stopped) and the
        manager's thread. Later calls fail with MCPError."""
        if self._closed:
            return

        async def stop_all():
            for s in self._servers.values():
                s.stop.set()
            tasks = [s.task for s in self._servers.values() if s.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=10)

        try:
            self._submit(stop_all()).result(15)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> "MCPManager":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MCPManager(servers={self.server_names})"


_PY = {"string": "str", "integer": "int", "number": "float", "boolean": "bool",
       "array": "list", "object": "dict", "null": "None"}


def _params(schema: dict, first: bool = False) -> str:
    props = (schema or {}).get("properties") or {}
    required = set((schema or {}).get("required") or [])
    parts = []
    for name, sub in props.items():
        if not name.isidentifier():
            continue
        typ = _PY.get(sub.get("type"), "Any") if isinstance(sub, dict) and \
            isinstance(sub.get("type"), str) else "Any"
        parts.append(f"{name}: {typ}" + ("" if name in required else " = ..."))
    if not parts:
        return "" if first else ""
    return ("*, " if first else ", *, ") + ", ".join(parts)


def _doc(text: str) -> str:
    line = (text or "").strip().splitlines()
    line = (line[0] if line else "").replace('"""', "'''").replace("\\", "\\\\")
    return f'"""{line}"""' if line else "..."


def connect_servers(config_paths: Optional[Sequence[Any]] = None,
                    connect_timeout: float = 30.0, *, report=None) -> Optional[MCPManager]:
    """Discovers the configured servers (discover_servers) and connects to
    each; returns the MCPManager, or None when none is configured or none
    connected. What failed is written to `report` (a text stream; default
    sys.stderr), one line per server, never dropped."""
    report = sys.stderr if report is None else report
    problems: List[str] = []
    servers = discover_servers(config_paths, errors=problems)
    for p in problems:
        print(f"eryx: MCP: {p}", file=report)
    if not servers:
        return None
    manager = MCPManager()
    for name, cfg in servers.items():
        try:
            if "command" in cfg:
                n = manager.connect(name, cfg["command"], cfg["args"], cfg["env"],
                                    connect_timeout)
            else:
                n = manager.connect(name, url=cfg["url"], headers=cfg["headers"],
                                    timeout_secs=connect_timeout)
            print(f"eryx: MCP: connected to {name!r} ({n} tools)", file=report)
        except MCPError as exc:
            print(f"eryx: MCP: {exc}", file=report)
    if not manager.server_names:
        manager.close()
        return None
    return manager
