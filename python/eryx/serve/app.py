"""The HTTP API of `eryx serve --http` (a Starlette app, JSON under /v1).

Design:
- A session's truth is the store (store.py): its latest committed
  snapshot and version. This copy keeps live eryx.Session objects as a
  cache (at most --max-live, least recently used dropped first) tagged
  with the version they hold. Every operation on a session runs under its
  lease (lease.py); under it the copy compares its live version with the
  store's and, if they differ or it holds none, restores the stored
  snapshot into a session first. So a session created on copy A continues
  on B, and a copy killed between two steps loses nothing committed.
- A step that changes the session (execute, PUT file) ends with
  snapshot_state() and a fenced commit of version N+1. If the snapshot
  fails (a value that cannot be serialized: SnapshotError names it) or is
  larger than --max-session-bytes, the step is NOT committed: the caller
  gets 422 with the output and that error, and this copy drops its live
  session so the next step starts again from the last committed version.
  A commit refused because the lease was lost is 409, not committed.
  A step stopped by a limit (timeout, fuel, memory) or cancelled is not
  committed either (a timeout or fuel trap resets the interpreter:
  committing would lose the session): 200 with the error, committed
  false, and the version it stays at. Every error answer of a step that
  ran carries its output under "execution".
- One-off executions (/v1/execute) take a sandbox from an
  eryx.SandboxPool; those asking for packages or network get a fresh
  eryx.Sandbox with what the server allows (--package, --net/--allow-host).
- Auth: with --auth-tokens every request but /v1/healthz needs
  `Authorization: Bearer TOKEN`; sessions record the sha256 of the token
  that made them and any other token gets 404 for them (not 403: another
  tenant's ids are not confirmed). Without tokens everyone is "anonymous"
  (the server then binds 127.0.0.1 only, see __init__.py).
- Requests: bodies larger than --max-body-bytes get 413 before they are
  read whole; a body that is not a JSON object gets 400 naming the parse
  error; unknown fields are refused, naming them. Errors are JSON
  {"error": {"kind", "message"}}.
- Streaming: `?stream=1` or `Accept: text/event-stream` on an execute
  answers Server-Sent Events: "stdout"/"stderr" events as the guest
  writes, then one "result" event (the JSON the plain request returns,
  with its status).
- The guest is hostile: its output is bytes decoded with U+FFFD, its
  result is the JSON the C library produced; nothing from it reaches the
  host other than that.
"""

import asyncio
import collections
import concurrent.futures
import hashlib
import json
import os
import posixpath
import secrets
import time
from typing import Any, Dict, Optional

import eryx

from .lease import SessionBusy, hold
from .metrics import Metrics
from .store import LeaseLost, NoSuchSession, StoreError, StoreUnavailable, VersionConflict

MOUNT = "/data"
# Errors after which a session step is not committed (see execute_session).
_NOT_COMMITTED = ("TimeoutError", "ResourceLimitError", "CancelledError")
API_VERSION = "v1"


class HTTPError(Exception):
    def __init__(self, status: int, kind: str, message: str, extra: Optional[dict] = None):
        super().__init__(message)
        self.status, self.kind, self.message, self.extra = status, kind, message, extra or {}


class _Live:
    """A session held live by this copy, at a committed version."""

    def __init__(self, sid: str, session, vfs, version: int) -> None:
        self.sid, self.session, self.vfs, self.version = sid, session, vfs, version
        self.sink = None

    def emit(self, stream: int, chunk: bytes) -> None:  # on the execution's thread
        sink = self.sink
        if sink is not None:
            sink(stream, chunk)


def _limits_from(body: Any, cfg) -> Dict[str, Any]:
    """Validated limits of a request (each at most the server's)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise HTTPError(400, "BadRequest", "limits must be an object")
    unknown = set(body) - {"timeout_ms", "max_memory_bytes", "max_fuel"}
    if unknown:
        raise HTTPError(400, "BadRequest", f"unknown limits: {', '.join(sorted(unknown))} "
                        f"(known: timeout_ms, max_memory_bytes, max_fuel)")
    out = {"timeout_ms": cfg.timeout, "max_memory_bytes": cfg.max_memory, "max_fuel": None}
    for name, cap in (("timeout_ms", cfg.timeout), ("max_memory_bytes", cfg.max_memory),
                      ("max_fuel", None)):
        v = body.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise HTTPError(400, "BadRequest", f"limits.{name} must be a positive integer")
        if cap is not None and v > cap:
            raise HTTPError(400, "BadRequest", f"limits.{name} {v} is above this server's "
                            f"{cap}")
        out[name] = v
    return out


def _resource_limits(lim: Dict[str, Any]) -> "eryx.ResourceLimits":
    rl = eryx.ResourceLimits(execution_timeout_ms=lim["timeout_ms"])
    if lim.get("max_memory_bytes"):
        rl.max_memory_bytes = lim["max_memory_bytes"]
    if lim.get("max_fuel"):
        rl.max_fuel = lim["max_fuel"]
    return rl


def _result_json(r: Optional["eryx.ExecuteResult"], exc: Optional[BaseException]):
    out: Dict[str, Any] = {"stdout": "", "stderr": "", "result": None, "result_error": None,
                           "duration_ms": 0.0, "output_truncated": False, "exit_code": None,
                           "error": None}
    if exc is not None:
        r = getattr(exc, "result", None) or r
        out["error"] = {"kind": type(exc).__name__, "message": str(exc),
                        "error_type": getattr(exc, "error_type", "") or None,
                        "traceback": getattr(exc, "traceback", "") or None,
                        "line": getattr(exc, "line", 0) or None}
    if r is not None:
        out.update(stdout=r.stdout_text, stderr=r.stderr_text, result_error=r.result_error,
                   duration_ms=round(r.duration_ms, 3), output_truncated=r.output_truncated,
                   exit_code=r.exit_code)
        try:
            out["result"] = r.result
        except eryx.EryxError as e:
            out["result_error"] = str(e)
    return out


def _guest_path(path: str) -> str:
    """A /data path (or one relative to it) as the storage's own path."""
    if not path or "\x00" in path:
        raise HTTPError(400, "BadPath", "the file path is empty")
    full = posixpath.normpath(posixpath.join(MOUNT, path.lstrip("/")) if not
                              path.startswith(MOUNT + "/") else path)
    if not full.startswith(MOUNT + "/"):
        raise HTTPError(400, "BadPath", f"{path!r} is outside {MOUNT}")
    return full[len(MOUNT):]


class Service:
    """The copy's state: config, store, live sessions, pool, metrics."""

    def __init__(self, cfg, store) -> None:
        self.cfg = cfg
        self.store = store
        self.metrics = Metrics()
        self.live: "collections.OrderedDict[str, _Live]" = collections.OrderedDict()
        self.pool = eryx.SandboxPool(max_size=cfg.pool_size, min_idle=1,
                                     resource_limits=_resource_limits(
                                         _limits_from(None, cfg)))
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=cfg.workers, thread_name_prefix="eryx-serve")
        self.tokens: Dict[str, str] = {}  # sha256 -> owner id
        for t in cfg.tokens:
            h = hashlib.sha256(t.encode()).hexdigest()
            self.tokens[h] = h[:32]
        self.packages = {os.path.basename(p): p for p in cfg.package}
        self.metrics.gauges.append(self._gauges)

    def _gauges(self):
        s = self.pool.stats()
        out = ["# HELP eryx_live_sessions Sessions this copy holds live.",
               "# TYPE eryx_live_sessions gauge", f"eryx_live_sessions {len(self.live)}",
               "# HELP eryx_pool_sandboxes One-off sandbox pool, by state.",
               "# TYPE eryx_pool_sandboxes gauge",
               f'eryx_pool_sandboxes{{state="idle"}} {s.idle}',
               f'eryx_pool_sandboxes{{state="in_use"}} {s.in_use}',
               "# TYPE eryx_pool_acquisitions_total counter",
               f"eryx_pool_acquisitions_total {s.total_acquisitions}",
               "# TYPE eryx_pool_creations_total counter",
               f"eryx_pool_creations_total {s.total_creations}",
               "# TYPE eryx_pool_waits_total counter", f"eryx_pool_waits_total {s.wait_count}"]
        return out

    async def run(self, fn, *a):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *a)

    async def st(self, fn, *a):
        """A store call, off the loop; StoreUnavailable becomes 503."""
        try:
            return await asyncio.to_thread(fn, *a)
        except StoreUnavailable as exc:
            self.metrics.error("StoreUnavailable")
            raise HTTPError(503, "StoreUnavailable", str(exc)) from None
        except (LeaseLost, VersionConflict, NoSuchSession):
            raise
        except StoreError as exc:
            self.metrics.error("StoreError")
            raise HTTPError(500, "StoreError", str(exc)) from None

    # ---- auth --------------------------------------------------------------

    def owner(self, request) -> str:
        if not self.tokens:
            return "anonymous"
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPError(401, "Unauthorized", "this server wants 'Authorization: Bearer "
                            "TOKEN'")
        owner = self.tokens.get(hashlib.sha256(token.strip().encode()).hexdigest())
        if owner is None:
            raise HTTPError(401, "Unauthorized", "the bearer token is not one of this "
                            "server's")
        return owner

    # ---- live sessions -----------------------------------------------------

    def _new_session(self, sid: str, limits: Dict[str, Any], version: int) -> _Live:
        vfs = eryx.VfsStorage(quota_bytes=self.cfg.max_file_bytes)
        live = _Live(sid, None, vfs, version)
        live.session = eryx.Session(vfs=vfs, resource_limits=_resource_limits(limits),
                                    on_stdout=lambda c: live.emit(1, c),
                                    on_stderr=lambda c: live.emit(2, c),
                                    **self._net_kwargs(False))
        return live

    def _net_kwargs(self, wanted: bool) -> Dict[str, Any]:
        if not wanted:
            return {}
        from .. import cli
        net = eryx.NetConfig(allowed_hosts=list(self.cfg.allow_host))
        if any(cli._is_loopback(h) for h in self.cfg.allow_host):
            net.allow_localhost()  # named on the command line, so meant
        return {"network": net}

    async def checkout(self, sid: str, owner: str) -> _Live:
        """The session at its committed version, live here (under its lease)."""
        meta = await self.st(self.store.meta, sid)
        if meta is None or meta.get("owner") != owner:
            raise HTTPError(404, "NoSuchSession", f"no session {sid!r} (never created, "
                            f"deleted, or expired after {self.cfg.session_ttl:g} s idle)")
        live = self.live.get(sid)
        if live is not None and live.version == meta["version"]:
            self.live.move_to_end(sid)
            return live
        self.live.pop(sid, None)
        limits = json.loads(meta.get("limits") or "{}") or _limits_from(None, self.cfg)
        if meta["version"] == 0:
            live = await self.run(self._new_session, sid, limits, 0)
        else:
            rec = await self.st(self.store.load, sid)
            if rec is None:
                raise HTTPError(404, "NoSuchSession", f"session {sid!r} expired")

            def restore():
                lv = self._new_session(sid, limits, rec["version"])
                lv.session.restore_state(rec["blob"])
                return lv
            try:
                live = await self.run(restore)
            except eryx.SnapshotError as exc:
                raise HTTPError(500, "SnapshotError", f"the stored snapshot of session "
                                f"{sid!r} (version {rec['version']}) could not be "
                                f"restored: {exc}") from None
        self.live[sid] = live
        while len(self.live) > self.cfg.max_live:
            self.live.popitem(last=False)  # still in the store; restored when needed
        return live

    async def commit(self, live: _Live, lease, result: Dict[str, Any]) -> Dict[str, Any]:
        """Snapshots the live session and commits version N+1, or says why not."""
        try:
            blob = await self.run(live.session.snapshot_state)
        except eryx.EryxError as exc:
            self.live.pop(live.sid, None)
            self.metrics.error("SnapshotError")
            raise HTTPError(422, "SnapshotError",
                            f"the step ran but was not committed: its state cannot be "
                            f"snapshotted ({exc}); the session stays at version "
                            f"{live.version}", {"execution": result}) from None
        if len(blob) > self.cfg.max_session_bytes:
            self.live.pop(live.sid, None)
            self.metrics.error("SessionTooLarge")
            raise HTTPError(422, "SessionTooLarge",
                            f"the step ran but was not committed: the session's snapshot is "
                            f"{len(blob)} bytes, above this server's --max-session-bytes "
                            f"{self.cfg.max_session_bytes}; the session stays at version "
                            f"{live.version}", {"execution": result})
        try:
            version = await self.st(self.store.commit, live.sid, lease.token, live.version,
                                    blob, int(self.cfg.session_ttl * 1000))
        except (LeaseLost, VersionConflict) as exc:
            self.live.pop(live.sid, None)
            self.metrics.error("LeaseLost")
            raise HTTPError(409, "LeaseLost", f"the step ran but was not committed: {exc}",
                            {"execution": result}) from None
        except NoSuchSession:
            self.live.pop(live.sid, None)
            raise HTTPError(404, "NoSuchSession", f"session {live.sid!r} was deleted or "
                            f"expired while the step ran") from None
        except HTTPError as exc:
            self.live.pop(live.sid, None)
            exc.message = f"the step ran but was not committed: {exc.message}"
            exc.extra.setdefault("execution", result)
            raise
        live.version = version
        return {"version": version, "snapshot_bytes": len(blob)}

    def lease(self, sid: str):
        return hold(self.store, sid, self.cfg.lease_ms, self.cfg.busy_wait)


async def read_body(request, cfg) -> bytes:
    """The request's body, refused with 413 past --max-body-bytes: at once
    when Content-Length says so, else as soon as the stream passes it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cfg.max_body_bytes:
        raise HTTPError(413, "BodyTooLarge", f"the body is {declared} bytes, above this "
                        f"server's --max-body-bytes {cfg.max_body_bytes}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cfg.max_body_bytes:
            raise HTTPError(413, "BodyTooLarge", f"the body is more than this server's "
                            f"--max-body-bytes {cfg.max_body_bytes}")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request, cfg, allowed: set) -> Dict[str, Any]:
    """The request's JSON object, within --max-body-bytes, known fields only."""
    raw = await read_body(request, cfg)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise HTTPError(400, "BadJSON", f"the body is not UTF-8: {exc}") from None
    except ValueError as exc:
        raise HTTPError(400, "BadJSON", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "BadJSON", f"the body must be a JSON object, not "
                        f"{type(body).__name__}")
    unknown = set(body) - allowed
    if unknown:
        raise HTTPError(400, "BadRequest", f"unknown fields: {', '.join(sorted(unknown))} "
                        f"(known: {', '.join(sorted(allowed))})")
    return body


def _code(body) -> str:
    code = body.get("code")
    if not isinstance(code, str):
        raise HTTPError(400, "BadRequest", "'code' (a string of Python) is required")
    return code


def _wants_stream(request, body) -> bool:
    s = body.get("stream", request.query_params.get("stream"))
    if isinstance(s, str):
        s = s.lower() in ("1", "true", "yes")
    return bool(s) or "text/event-stream" in request.headers.get("accept", "")


def _store_http(m: Metrics, exc: StoreError) -> HTTPError:
    kind = "StoreUnavailable" if isinstance(exc, StoreUnavailable) else "StoreError"
    m.error(kind)
    return HTTPError(503 if kind == "StoreUnavailable" else 500, kind, str(exc))


def _authed(service: Service, inner):
    """The MCP app behind the same bearer tokens as the API."""
    async def app(scope, receive, send):
        if scope["type"] == "http" and service.tokens:
            from starlette.requests import Request
            from starlette.responses import JSONResponse
            try:
                service.owner(Request(scope))
            except HTTPError as exc:
                await JSONResponse({"error": {"kind": exc.kind, "message": exc.message}},
                                   status_code=exc.status)(scope, receive, send)
                return
        await inner(scope, receive, send)
    return app


def build_app(service: Service, mcp_app=None):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route

    cfg = service.cfg
    m = service.metrics

    def err(exc: HTTPError):
        body = {"error": {"kind": exc.kind, "message": exc.message}}
        body.update(exc.extra)
        return JSONResponse(body, status_code=exc.status)

    def endpoint(route_name):
        def wrap(fn):
            async def handler(request):
                try:
                    resp = await fn(request)
                except HTTPError as exc:
                    if exc.status >= 400 and exc.kind not in ("StoreUnavailable",):
                        m.error(exc.kind)
                    resp = err(exc)
                except SessionBusy as exc:
                    m.error("SessionBusy")
                    resp = err(HTTPError(409, "SessionBusy", str(exc)))
                except StoreError as exc:  # raised outside Service.st (the lease's calls)
                    resp = err(_store_http(m, exc))
                except Exception as exc:  # noqa: BLE001 - a bug here: say what it was
                    m.error("InternalError")
                    resp = err(HTTPError(500, "InternalError",
                                         f"{type(exc).__name__}: {exc}"))
                m.response(route_name, resp.status_code)
                return resp
            return handler
        return wrap

    async def streamed(work, live_or_sink_setter):
        """SSE: output events while `work` runs, then the result event."""
        loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue()

        def sink(stream, chunk):
            loop.call_soon_threadsafe(q.put_nowait, (stream, chunk))
        live_or_sink_setter(sink)

        async def run():
            try:
                status, body = 200, await work()
            except HTTPError as exc:
                m.error(exc.kind)
                status, body = exc.status, dict({"error": {"kind": exc.kind,
                                                           "message": exc.message}}, **exc.extra)
            except SessionBusy as exc:
                m.error("SessionBusy")
                status, body = 409, {"error": {"kind": "SessionBusy", "message": str(exc)}}
            except StoreError as exc:
                e = _store_http(m, exc)
                status, body = e.status, {"error": {"kind": e.kind, "message": e.message}}
            except Exception as exc:  # noqa: BLE001 - a bug here: say what it was
                m.error("InternalError")
                status, body = 500, {"error": {"kind": "InternalError",
                                               "message": f"{type(exc).__name__}: {exc}"}}
            await q.put(("done", (status, body)))

        async def gen():
            task = asyncio.ensure_future(run())
            try:
                while True:
                    kind, data = await q.get()
                    if kind == "done":
                        status, body = data
                        yield (f"event: result\ndata: "
                               f"{json.dumps(dict(body, status=status))}\n\n").encode()
                        return
                    name = "stdout" if kind == 1 else "stderr"
                    text = data.decode("utf-8", "replace")
                    yield f"event: {name}\ndata: {json.dumps({'text': text})}\n\n".encode()
            finally:
                await task
        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    # ---- one-off ------------------------------------------------------------

    @endpoint("/v1/execute")
    async def execute_oneoff(request):
        service.owner(request)
        body = await read_json(request, cfg, {"code", "limits", "packages", "network",
                                              "stream"})
        code = _code(body)
        limits = _limits_from(body.get("limits"), cfg)
        packages = body.get("packages") or []
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise HTTPError(400, "BadRequest", "packages must be a list of names")
        for p in packages:
            if p not in service.packages:
                raise HTTPError(400, "BadRequest", f"package {p!r} is not offered by this "
                                f"server (offered: {', '.join(sorted(service.packages)) or 'none'}"
                                f"; see --package)")
        network = body.get("network", False)
        if not isinstance(network, bool):
            raise HTTPError(400, "BadRequest", "network must be true or false")
        if network and not cfg.allow_host:
            raise HTTPError(400, "BadRequest", "this server allows no network (start it with "
                            "--allow-host PATTERN)")
        sink_box = [None]

        def emit(stream, chunk):
            if sink_box[0] is not None:
                sink_box[0](stream, chunk)

        def run_it():
            t0 = time.monotonic()
            r = exc = None
            try:
                if packages or network:
                    sb = eryx.Sandbox(resource_limits=_resource_limits(limits),
                                      packages=[service.packages[p] for p in packages],
                                      on_stdout=lambda c: emit(1, c),
                                      on_stderr=lambda c: emit(2, c),
                                      **service._net_kwargs(network))
                    r = sb.execute(code)
                else:
                    with service.pool.acquire(resource_limits=_resource_limits(limits),
                                              on_stdout=lambda c: emit(1, c),
                                              on_stderr=lambda c: emit(2, c)) as sb:
                        r = sb.execute(code)
            except eryx.PoolError as e:
                raise HTTPError(503, type(e).__name__, f"no sandbox free: {e}") from None
            except eryx.EryxError as e:
                exc = e
            out = _result_json(r, exc)
            m.execution("oneoff", time.monotonic() - t0,
                        out["error"]["kind"] if out["error"] else "")
            return out

        async def work():
            return await service.run(run_it)
        if _wants_stream(request, body):
            return await streamed(work, lambda s: sink_box.__setitem__(0, s))
        return JSONResponse(await work())

    # ---- sessions -----------------------------------------------------------

    @endpoint("/v1/sessions")
    async def create_session(request):
        owner = service.owner(request)
        body = await read_json(request, cfg, {"limits"})
        limits = _limits_from(body.get("limits"), cfg)
        sid = secrets.token_urlsafe(16)
        await service.st(service.store.create, sid,
                         {"owner": owner, "created": repr(time.time()),
                          "limits": json.dumps(limits)}, int(cfg.session_ttl * 1000))
        return JSONResponse({"id": sid, "version": 0, "limits": limits}, status_code=201)

    def _sid(request) -> str:
        sid = request.path_params["sid"]
        if len(sid) > 100 or not sid.replace("-", "").replace("_", "").isalnum():
            raise HTTPError(404, "NoSuchSession", "no such session")
        return sid

    @endpoint("/v1/sessions/{id}/execute")
    async def execute_session(request):
        owner = service.owner(request)
        sid = _sid(request)
        body = await read_json(request, cfg, {"code", "stream"})
        code = _code(body)
        sink_box = [None]

        async def work():
            async with service.lease(sid) as lease:
                live = await service.checkout(sid, owner)
                live.sink = sink_box[0]
                t0 = time.monotonic()

                def run_it():
                    try:
                        return _result_json(live.session.execute(code), None)
                    except eryx.EryxError as e:
                        return _result_json(None, e)
                try:
                    out = await service.run(run_it)
                except BaseException:
                    # Cancelled (or worse) while the code may still run on its
                    # thread: this object is no longer the session; the next
                    # request restores the committed version instead.
                    service.live.pop(sid, None)
                    raise
                finally:
                    live.sink = None
                kind = out["error"]["kind"] if out["error"] else ""
                if kind in _NOT_COMMITTED:
                    # A limit stops the guest where it is (and a timeout or
                    # fuel trap resets the interpreter): keep the state from
                    # before this step rather than commit a half or empty one.
                    service.live.pop(sid, None)
                    out.update(committed=False, version=live.version,
                               not_committed=f"the step was stopped ({kind}), so it is "
                               f"not committed: the session stays at version "
                               f"{live.version}, its state before this step")
                else:
                    out.update(await service.commit(live, lease, out), committed=True)
                m.execution("session", time.monotonic() - t0,
                            out["error"]["kind"] if out["error"] else "")
                return out
        if _wants_stream(request, body):
            return await streamed(work, lambda s: sink_box.__setitem__(0, s))
        return JSONResponse(await work())

    @endpoint("/v1/sessions/{id}")
    async def session_info(request):
        owner = service.owner(request)
        sid = _sid(request)
        if request.method == "DELETE":
            async with service.lease(sid):
                meta = await service.st(service.store.meta, sid)
                if meta is None or meta.get("owner") != owner:
                    raise HTTPError(404, "NoSuchSession", f"no session {sid!r}")
                await service.st(service.store.delete, sid)
                service.live.pop(sid, None)
            return Response(status_code=204)
        meta = await service.st(service.store.meta, sid)
        if meta is None or meta.get("owner") != owner:
            raise HTTPError(404, "NoSuchSession", f"no session {sid!r}")
        live = service.live.get(sid)
        return JSONResponse({"id": sid, "version": meta["version"],
                             "created": meta.get("created"), "updated": meta.get("updated"),
                             "snapshot_bytes": meta.get("size", 0),
                             "limits": json.loads(meta.get("limits") or "{}"),
                             "live_here": live is not None and live.version == meta["version"]})

    @endpoint("/v1/sessions/{id}/files/{path}")
    async def session_file(request):
        owner = service.owner(request)
        sid = _sid(request)
        path = _guest_path(request.path_params["path"])
        if request.method == "PUT":
            body = await read_body(request, cfg)
            async with service.lease(sid) as lease:
                live = await service.checkout(sid, owner)
                try:
                    await service.run(live.vfs.write, path, body)
                except eryx.VfsError as exc:
                    service.live.pop(sid, None)
                    raise HTTPError(422, "VfsError", f"{MOUNT}{path}: {exc}") from None
                info = await service.commit(live, lease, {})
            return JSONResponse(dict(info, path=MOUNT + path, bytes=len(body)))
        async with service.lease(sid):
            live = await service.checkout(sid, owner)
            try:
                content = await service.run(live.vfs.read, path)
            except eryx.VfsError as exc:
                raise HTTPError(404, "NoSuchFile", f"{MOUNT}{path}: {exc}") from None
        return Response(content, media_type="application/octet-stream")

    @endpoint("/v1/sessions/{id}/snapshot")
    async def session_snapshot(request):
        owner = service.owner(request)
        sid = _sid(request)
        rec = await service.st(service.store.load, sid)
        if rec is None or rec.get("owner") != owner:
            raise HTTPError(404, "NoSuchSession", f"no session {sid!r}")
        if rec["version"] == 0:
            raise HTTPError(409, "NoSnapshotYet", f"session {sid!r} has run no step yet")
        return Response(rec["blob"], media_type="application/octet-stream",
                        headers={"X-Eryx-Session-Version": str(rec["version"])})

    @endpoint("/v1/healthz")
    async def healthz(request):
        try:
            await asyncio.to_thread(service.store.ping)
        except StoreError as exc:
            return JSONResponse({"ok": False, "store": service.store.url,
                                 "error": {"kind": "StoreUnavailable", "message": str(exc)}},
                                status_code=503)
        return JSONResponse({"ok": True, "store": service.store.url,
                             "live_sessions": len(service.live)})

    @endpoint("/metrics")
    async def metrics(request):
        service.owner(request)
        return PlainTextResponse(m.render(), media_type="text/plain; version=0.0.4")

    async def openapi(request):
        from .openapi import document
        return JSONResponse(document())

    routes = [
        Route("/v1/execute", execute_oneoff, methods=["POST"]),
        Route("/v1/sessions", create_session, methods=["POST"]),
        Route("/v1/sessions/{sid}", session_info, methods=["GET", "DELETE"]),
        Route("/v1/sessions/{sid}/execute", execute_session, methods=["POST"]),
        Route("/v1/sessions/{sid}/files/{path:path}", session_file, methods=["GET", "PUT"]),
        Route("/v1/sessions/{sid}/snapshot", session_snapshot, methods=["GET"]),
        Route("/v1/healthz", healthz, methods=["GET"]),
        Route("/v1/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    lifespan = None
    if mcp_app is not None:
        routes.append(Mount("/", app=_authed(service, mcp_app)))  # its own route is /mcp
        lifespan = getattr(mcp_app.router, "lifespan_context", None)
    app = Starlette(routes=routes, lifespan=lifespan)
    return app

