"""Callbacks: host functions that sandboxed code awaits.

A callback is a plain function or an `async def`. Its description defaults
to the first line of its docstring and its JSON Schema is inferred from its
signature and type hints. Inside the sandbox every callback is an async
function: `await get_weather(city="Oslo")`.

Answers come from other threads: plain functions run in a shared thread
pool and coroutines on one event loop that this module runs in a daemon
thread, so many invocations proceed in parallel under asyncio.gather.
"""

import asyncio
import enum
import inspect
import json
import queue
import signal
import threading
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from . import _eryx
from .errors import SuspendCallback


@dataclass
class Callback:
    name: str
    fn: Callable[..., Any]
    description: str = ""
    schema: Optional[dict] = None

    def _native(self):
        schema = json.dumps(self.schema) if self.schema is not None else None
        return (self.name, self.description or None, schema, _is_async(self.fn))


_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean",
           list: "array", tuple: "array", dict: "object", type(None): "null"}


def _type_schema(hint) -> dict:
    """JSON Schema for a type hint ({} when it cannot be expressed)."""
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [m.value for m in hint]
        return {"enum": values} if all(isinstance(v, (str, int, float, bool)) for v in values) else {}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _type_schema(rest[0])
        parts = [_type_schema(a) for a in rest]
        kinds = [p.get("type") for p in parts]
        if all(isinstance(k, str) for k in kinds):
            return {"type": kinds}
        return {}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset) or origin in (List,):
        items = _type_schema(args[0]) if args and args[0] is not Ellipsis else {}
        return {"type": "array", "items": items} if items else {"type": "array"}
    if origin in (dict, Dict):
        return {"type": "object"}
    return {}


def infer_schema(fn: Callable[..., Any]) -> dict:
    """The JSON Schema of `fn`'s keyword arguments, from its signature (any
    object when the signature cannot be read, as for some builtins)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {"type": "object"}
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable hints: fall back to none
        hints = {}
    properties, required = {}, []
    extra = False
    for name, p in sig.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            extra = True
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        properties[name] = _type_schema(hints.get(name, p.annotation))
        if p.default is p.empty:
            required.append(name)
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _first_doc_line(fn) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def make_callback(fn, name=None, description=None, schema=None) -> Callback:
    if not callable(fn):
        raise TypeError(f"a callback must be callable, not {type(fn).__name__}")
    name = name or getattr(fn, "__name__", None)
    if not name or not isinstance(name, str):
        raise ValueError("a callback needs a name")
    if description is None:
        description = _first_doc_line(fn)
    if schema is None:
        schema = infer_schema(fn)
    elif not isinstance(schema, dict):
        raise TypeError("a callback's schema must be a dict (a JSON Schema object)")
    return Callback(name, fn, description, schema)


class CallbackRegistry:
    """A set of callbacks, filled with the `callback` decorator or `add`:

        registry = eryx.CallbackRegistry()

        @registry.callback(description="Current time")
        def now() -> float: ...

        sandbox = eryx.Sandbox(callbacks=registry)
    """

    def __init__(self) -> None:
        self._callbacks: Dict[str, Callback] = {}

    def add(self, fn: Callable[..., Any], name: Optional[str] = None,
            description: Optional[str] = None, schema: Optional[dict] = None) -> Callback:
        cb = make_callback(fn, name, description, schema)
        if cb.name in self._callbacks:
            raise ValueError(f"a callback named {cb.name!r} is already registered")
        self._callbacks[cb.name] = cb
        return cb

    def callback(self, name=None, description: Optional[str] = None,
                 schema: Optional[dict] = None):
        """Decorator; usable bare (`@registry.callback`) or with arguments."""
        if callable(name):
            fn = name
            self.add(fn)
            return fn

        def register(fn):
            self.add(fn, name, description, schema)
            return fn
        return register

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        """The callbacks as upstream's dicts: {"name", "fn", "description",
        "schema"} (copies: changing one changes nothing here)."""
        return iter([{"name": cb.name, "fn": cb.fn, "description": cb.description,
                      "schema": cb.schema} for cb in self._callbacks.values()])

    def __repr__(self) -> str:
        return f"CallbackRegistry([{', '.join(self._callbacks)}])"

    def __len__(self) -> int:
        return len(self._callbacks)

    def __contains__(self, name: object) -> bool:
        return name in self._callbacks


def normalize(callbacks) -> List[Callback]:
    """Accepts a CallbackRegistry, or a list of dicts {"name", "fn",
    "description"?, "schema"?} / Callback objects / plain functions."""
    if callbacks is None:
        return []
    if isinstance(callbacks, CallbackRegistry):
        return list(callbacks._callbacks.values())
    out, seen = [], set()
    for item in callbacks:
        if isinstance(item, Callback):
            cb = item
        elif isinstance(item, dict):
            unknown = set(item) - {"name", "fn", "description", "schema"}
            if unknown:
                raise ValueError(f"unknown callback keys: {sorted(unknown)}")
            # KeyError, as upstream raises for these.
            if "name" not in item:
                raise KeyError("Callback dict missing 'name' key: give each callback dict "
                               "a 'name' (how the code calls it)")
            if "fn" not in item:
                raise KeyError(f"Callback dict missing 'fn' key: callback {item['name']!r} "
                               "needs the function to call")
            cb = make_callback(item["fn"], item.get("name"), item.get("description"),
                               item.get("schema"))
        elif callable(item):
            cb = make_callback(item)
        else:
            raise TypeError(f"not a callback: {item!r}")
        if cb.name in seen:
            raise ValueError(f"two callbacks are named {cb.name!r}")
        seen.add(cb.name)
        out.append(cb)
    return out


# ---- running them ----
#
# Both hand-offs are cheap on the thread executing the sandbox, because every
# microsecond there is one the guest waits: plain functions are dispatched
# there and go to _Workers (a SimpleQueue, no Future per call); coroutines'
# starts do not even take the GIL there: the extension queues them for the
# loop thread, which dispatches them (python/src/starts.c says why).

_lock = threading.Lock()
_loop: Optional[asyncio.AbstractEventLoop] = None


def _block_async_signals() -> None:
    """Callback threads leave the application's signals (Ctrl-C's SIGINT,
    ...) to its own threads, as liberyx's threads do (eryx__thread_start):
    a signal taken by a worker would not wake a main thread waiting in
    input() or select()."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM,
                                                  signal.SIGHUP, signal.SIGQUIT,
                                                  signal.SIGCHLD, signal.SIGWINCH})


class _Workers:
    """Daemon threads running plain callbacks, at most `limit` at once; a
    thread is started only when none is idle (the rest queue)."""

    def __init__(self, limit: int):
        self._limit = limit
        self._queue: "queue.SimpleQueue" = queue.SimpleQueue()
        self._mu = threading.Lock()
        self._idle = 0     # threads waiting for work, not yet promised any
        self._threads = 0

    def submit(self, fn, *args) -> None:
        with self._mu:
            if self._idle:
                self._idle -= 1
            elif self._threads < self._limit:
                self._threads += 1
                threading.Thread(target=self._work, name=f"eryx-callback-{self._threads}",
                                 daemon=True).start()
        self._queue.put((fn, args))

    def _work(self) -> None:
        _block_async_signals()
        while True:
            fn, args = self._queue.get()
            try:
                fn(*args)  # _answer: answers the call (a BaseException drops it)
            except BaseException:  # noqa: BLE001 - the thread stays in service
                pass
            del fn, args
            with self._mu:
                self._idle += 1


_workers = _Workers(64)


def _run_loop(loop) -> None:
    _block_async_signals()
    loop.run_forever()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The event loop async callbacks run on (one daemon thread)."""
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            # Coroutine callbacks' starts arrive through this descriptor,
            # queued by the extension without the GIL (python/src/starts.c).
            loop.add_reader(_eryx._starts_fd(), _eryx._run_starts)
            threading.Thread(target=_run_loop, args=(loop,), name="eryx-callback-loop",
                             daemon=True).start()
            _loop = loop
        return _loop


def _answer(call, fn, args):
    try:
        value = fn(**args)
    except SuspendCallback as exc:
        call.suspend(str(exc) or "suspended")
        return
    except Exception as exc:  # noqa: BLE001 - becomes a CallbackError inside
        call.fail(type(exc).__name__, str(exc) or type(exc).__name__)
        return
    _succeed(call, value)


def _succeed(call, value):
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as exc:
        call.fail("TypeError", f"the callback's return value is not JSON: {exc}")
        return
    call.succeed(text)


async def _answer_async(call, fn, args):
    try:
        value = await fn(**args)
    except asyncio.CancelledError:
        call.fail("CancelledError", "cancelled")
        return
    except SuspendCallback as exc:
        call.suspend(str(exc) or "suspended")
        return
    except Exception as exc:  # noqa: BLE001
        call.fail(type(exc).__name__, str(exc) or type(exc).__name__)
        return
    _succeed(call, value)


class Dispatcher:
    """Called by the extension for each invocation (plain callbacks: on the
    executing thread; coroutines: on the loop thread, from _run_starts);
    hands the work to the workers or the loop and returns at once."""

    def __init__(self, callbacks: List[Callback]):
        self._by_name = {cb.name: (cb.fn, _is_async(cb.fn)) for cb in callbacks}
        if any(is_async for _, is_async in self._by_name.values()):
            _event_loop()  # it dispatches their starts: it must be running first

    def __call__(self, name, args_json, call):
        entry = self._by_name.get(name)
        if entry is None:
            call.fail("HostError", f"no callback named {name!r}")
            return
        try:
            args = json.loads(args_json) if args_json else {}
        except ValueError as exc:
            call.fail("HostError", f"bad arguments: {exc}")
            return
        fn, is_async = entry
        if not is_async:
            _workers.submit(_answer, call, fn, args)
            return
        loop = _event_loop()
        coro = _answer_async(call, fn, args)
        if asyncio._get_running_loop() is loop:  # the usual way in: _run_starts
            task = loop.create_task(coro)
            call.on_cancel = lambda: loop.call_soon_threadsafe(task.cancel)
        else:  # the extension could not queue it (out of memory)
            call.on_cancel = asyncio.run_coroutine_threadsafe(coro, loop).cancel


def _is_async(fn) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))
