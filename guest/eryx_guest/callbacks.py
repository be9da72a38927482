"""Host callbacks as async functions inside the sandbox.

Each callback the host registered becomes an `async def` proxy in the user's
namespace (`await get_time()`); dotted names become namespaces
(`await http.get(url=...)`), also reachable by subscript
(`await mcp["my-server"].tool()`, see Namespace). Arguments are validated against the callback's
JSON Schema here, before the host is ever called. Starting a call returns an
id at once; the answer arrives through `callback-wait`, which the event loop
calls when it has nothing else to do (see loop.py), so any number of calls
can be in flight under asyncio.gather.
"""

import asyncio
import json
import re
import sys
import types

from componentize_py_types import Err
from wit_world.imports import host

from . import capture, text


class CallbackError(RuntimeError):
    """A callback failed on the host, or was called with bad arguments (a
    RuntimeError, as upstream Eryx raises for a failing callback)."""

    def __init__(self, message, error_type="", callback=""):
        super().__init__(message)
        self.error_type = error_type
        self.callback = callback


class CallbackTimeoutError(CallbackError, TimeoutError):
    """The host did not answer within the per-callback timeout."""


class CallbackLimitError(CallbackError):
    """The execution reached its maximum number of callback invocations."""


# id -> asyncio.Future of calls started and not yet answered.
pending = {}


def deliver(completions):
    """Resolves the futures of answered calls (called by the event loop)."""
    for c in completions:
        fut = pending.pop(c.id, None)
        if fut is None or fut.done():
            continue
        try:
            fut.set_result(_answer(c, getattr(fut, "_eryx_name", "")))
        except CallbackError as exc:
            fut.set_exception(exc)


def _answer(c, name):
    """A completion's value, or raises the CallbackError it stands for."""
    if c.ok:
        try:
            return json.loads(c.value)
        except ValueError as exc:
            raise CallbackError(f"callback {name!r} answered with invalid JSON: {exc}",
                                "InvalidJSON", name) from None
    if c.error_type == "CallbackTimeout":
        raise CallbackTimeoutError(c.value, c.error_type, name)
    raise CallbackError(c.value, c.error_type, name)


def _alone(loop):
    """True when nothing but the current task could run before an answer
    arrives: no other call in flight and, in the sandbox's own loop,
    nothing ready, timed or watched. The loop's next step would then be
    exactly a callback-wait."""
    idle = getattr(loop, "only_callbacks_can_wake", None)
    return not pending and idle is not None and idle()


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


_TYPES = {
    "object": dict, "array": (list, tuple), "string": str, "boolean": bool,
    "null": type(None),
}


def _type_ok(value, expected):
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    py = _TYPES.get(expected)
    return py is None or isinstance(value, py)


def validate(value, schema, where):
    """Checks the JSON Schema subset we support; raises CallbackError."""
    if not isinstance(schema, dict):
        return
    expected = schema.get("type")
    if expected is not None:
        options = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in options):
            raise CallbackError(
                f"{where}: expected {' or '.join(options)}, got {type(value).__name__}",
                "InvalidArguments")
    if "enum" in schema and value not in schema["enum"]:
        raise CallbackError(f"{where}: {value!r} is not one of {schema['enum']!r}",
                            "InvalidArguments")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise CallbackError(f"{where}: missing required argument {name!r}",
                                    "InvalidArguments")
        if schema.get("additionalProperties") is False or (
                props and "additionalProperties" not in schema):
            for name in value:
                if name not in props:
                    raise CallbackError(f"{where}: unexpected argument {name!r}",
                                        "InvalidArguments")
        for name, sub in props.items():
            if name in value:
                validate(value[name], sub, f"{where}: argument {name!r}")
    if isinstance(value, (list, tuple)) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{i}]")


async def call(name, schema, args):
    """Starts callback `name` with the dict `args` and awaits its answer."""
    where = f"{name}()"
    validate(args, schema, where)
    try:
        payload = _ENCODER.encode(args)
    except (TypeError, ValueError) as exc:
        raise CallbackError(f"{where}: arguments are not JSON-serializable: {exc}",
                            "InvalidArguments", name) from None
    at = text.surrogate_at(payload)
    if at >= 0:  # the host could not even be handed this string
        raise CallbackError(f"{where}: arguments contain a lone surrogate "
                            f"({payload[at]!r}), which is not valid Unicode text",
                            "InvalidArguments", name)
    try:
        started = host.callback_start(name, payload)
    except Err as exc:
        err = exc.value
        cls = CallbackLimitError if err.kind == "limit" else CallbackError
        raise cls(err.message, err.kind, name) from None
    loop = asyncio.get_running_loop()
    if _alone(loop):
        # A sequential `await f()`: wait here, as the loop would, and skip
        # its future and two turns (a third of the call's guest time).
        capture.flush_all()
        while True:
            for c in host.callback_wait(None):
                if c.id == started:
                    return _answer(c, name)
    fut = loop.create_future()
    fut._eryx_name = name
    pending[started] = fut
    try:
        return await fut
    except asyncio.CancelledError:
        if pending.pop(started, None) is not None:
            host.callback_cancel(started)
        raise


_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")


def _ident(key):
    """The host's rule for names that are not identifiers (eryx/mcp.py
    ident()): other characters become "_", a leading digit gets "_"."""
    s = _NOT_IDENT.sub("_", key)
    return "_" + s if not s or s[0].isdigit() else s


class Namespace(types.SimpleNamespace):
    """The namespace of dotted callback names (`mcp.github`), also indexable
    by the original names that are not identifiers: `mcp["my-server"]` is
    `mcp.my_server`."""

    def __getitem__(self, key):
        if not isinstance(key, str):
            raise TypeError(f"namespace keys are str, not {type(key).__name__}")
        d = vars(self)
        for k in (key, _ident(key)):
            if k in d:
                return d[k]
        raise KeyError(f"{key!r}: not here (there are: {', '.join(sorted(d)) or 'none'})")

    def __contains__(self, key):
        return isinstance(key, str) and (key in vars(self) or _ident(key) in vars(self))

    def __iter__(self):
        return iter(sorted(vars(self)))

    def keys(self):
        return sorted(vars(self))


def make_proxy(spec):
    name, schema = spec["name"], spec.get("schema") or {}
    order = list((schema.get("properties") or {}).keys())

    async def proxy(*args, **kwargs):
        if len(args) > len(order):
            raise CallbackError(
                f"{name}() takes {len(order)} positional argument(s) but "
                f"{len(args)} were given", "InvalidArguments", name)
        merged = dict(zip(order, args))
        for key, val in kwargs.items():
            if key in merged:
                raise CallbackError(f"{name}() got multiple values for argument {key!r}",
                                    "InvalidArguments", name)
            merged[key] = val
        # Straight to call(): invoke() would look the spec up again, and
        # its coroutine is one more layer each start and answer goes through.
        return await call(name, schema, merged)

    short = name.rsplit(".", 1)[-1]
    proxy.__name__ = proxy.__qualname__ = short
    proxy.__doc__ = spec.get("description") or None
    return proxy


class Registry:
    """What the host offers, fetched once per instance."""

    def __init__(self):
        self.specs = None
        self.libraries = []
        self._installed = False
        self._top = None  # {name: object} bound into namespaces, built once

    def load(self):
        if self.specs is None:
            offered = json.loads(host.list_callbacks())
            self.specs = {s["name"]: s for s in offered["callbacks"]}
            self.libraries = offered["libraries"]
        return self.specs

    def install_libraries(self):
        """Makes each runtime library importable (once per instance)."""
        if self._installed:
            return
        self._installed = True
        self.load()
        for lib in self.libraries:
            name = lib["name"]
            if name in sys.modules or name in sys.stdlib_module_names:
                raise ImportError(f"runtime library {name!r} would shadow the "
                                  f"standard module of that name")
            module = types.ModuleType(name)
            module.__file__ = f"<library {name}>"
            for spec in self.specs.values():
                if spec.get("library") == name:
                    short = spec["name"][len(name) + 1:]
                    setattr(module, short, make_proxy(spec))
            module.CallbackError = CallbackError
            sys.modules[name] = module
            try:
                exec(compile(lib["source"], module.__file__, "exec"), module.__dict__)
            except BaseException:
                del sys.modules[name]
                raise

    def _top_level(self):
        """Proxies (dotted names as nested namespaces), invoke, list_callbacks
        and the exception types, keyed by top-level name; built once."""
        if self._top is None:
            top = {}
            for spec in self.load().values():
                if "library" in spec:
                    continue  # reached through `import <library>`
                *parents, last = spec["name"].split(".")
                if not parents:
                    top[last] = make_proxy(spec)
                    continue
                holder = top.setdefault(parents[0], Namespace())
                for part in parents[1:]:
                    if not hasattr(holder, part):
                        setattr(holder, part, Namespace())
                    holder = getattr(holder, part)
                setattr(holder, last, make_proxy(spec))
            top.update(invoke=invoke, list_callbacks=list_callbacks,
                       CallbackError=CallbackError,
                       CallbackTimeoutError=CallbackTimeoutError,
                       CallbackLimitError=CallbackLimitError)
            self._top = top
        return self._top

    def bind(self, namespace):
        """Puts proxies, namespaces, invoke and list_callbacks in `namespace`;
        returns {name: object} of the top-level names it set."""
        top = self._top_level()
        namespace.update(top)
        return top


registry = Registry()


async def invoke(name, /, **kwargs):
    """Calls the callback `name` with keyword arguments."""
    spec = registry.load().get(name)
    if spec is None:
        raise CallbackError(f"no callback named {name!r}", "unknown", name)
    return await call(name, spec.get("schema") or {}, kwargs)


def list_callbacks():
    """[{name, description, schema}] for every callback the host offers."""
    return [dict(name=s["name"], description=s.get("description", ""),
                 schema=s.get("schema") or {}) for s in registry.load().values()]

