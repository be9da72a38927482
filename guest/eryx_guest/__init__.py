"""Eryx guest runtime: the Python side of the `eryx:sandbox` world.

componentize-py runs this module's top level once, at build time, and
snapshots the interpreter's heap into the component. Everything imported
here is therefore free for every sandbox; anything imported later is read
from the read-only stdlib mounted at /python.
"""

import sys
import os

# Pre-imports: modules nearly every script uses. Their import cost is paid at
# build time, not per sandbox.
import abc, array, asyncio, base64, bisect, calendar, codecs, collections  # noqa: E401,F401
import contextlib, copy, csv, dataclasses, datetime, decimal, enum, fractions  # noqa: E401,F401
import functools, hashlib, heapq, inspect, io, itertools, json, linecache  # noqa: E401,F401
import math, operator, pprint, random, re, statistics, string, struct  # noqa: E401,F401
import textwrap, time, traceback, types, typing, unicodedata, uuid, weakref  # noqa: E401,F401
import asyncio.base_events, asyncio.events  # noqa: E401,F401
import encodings.idna  # noqa: E401,F401  (ssl encodes every server name with it: 27 ms at first use)



def _import_dill():
    """dill opens os.devnull and asks for a temporary directory while
    importing, and pre-initialization has neither: lend it a scratch file
    and directory in the build-time site-packages mount, then take them
    away again."""
    import importlib.util
    import tempfile
    site = os.path.dirname(importlib.util.find_spec("dill").submodule_search_locations[0])
    scratch = os.path.join(site, ".eryx-devnull")
    saved = os.devnull
    open(scratch, "wb").close()
    os.devnull, tempfile.tempdir = scratch, site
    try:
        import dill._dill  # noqa: F401
    finally:
        os.devnull, tempfile.tempdir = saved, None
        os.remove(scratch)


_import_dill()

import wit_world
from wit_world import Outcome, SnapshotResult
from wit_world.imports import host

from . import netinstall
netinstall.install()  # the host-mediated _socket/_ssl under socket.py, ssl.py

from . import heap_image, loop, posix_fixes, snapshot
from .runner import STATUS_INTERNAL, STATUS_LIMIT, Runner
from .text import clean, u32

loop.install()
posix_fixes.install()


def _buffered_std_fds():
    """sys.__stdout__ / sys.__stderr__ as CPython builds them here sit on a
    raw FileIO, and a TextIOWrapper does not retry a partial write: WASI
    takes at most 8 KiB per write, so the rest of a longer one was lost
    without a word. A BufferedWriter in between writes everything."""
    for fd, name in ((1, "__stdout__"), (2, "__stderr__")):
        raw = io.FileIO(fd, "w", closefd=False)
        stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
        setattr(sys, name, stream)


_buffered_std_fds()

_runner = Runner(host.emit_output)
_fresh_instance = True


def _first_execution_in_instance():
    """Undo what the build-time snapshot made identical in every sandbox."""
    # The `random` module was seeded while the snapshot was taken: reseed it
    # from WASI randomness so two sandboxes do not draw the same numbers.
    random.seed()


def _begin_in_instance():
    """Before an execution or warm-up: the instance's first one undoes what
    the snapshot made identical in every sandbox."""
    global _fresh_instance
    if _fresh_instance:
        _fresh_instance = False
        _first_execution_in_instance()


def _ensure_path(entries):
    """The sandbox's package mounts, on sys.path after what is there (the
    user's code may have changed sys.path in a session: kept as it is)."""
    for entry in entries:
        if entry not in sys.path:
            sys.path.append(entry)


def _set_environ(pairs):
    """The execution's environment variables (secrets' placeholders); what
    each name held before, to put back after the run."""
    saved = []
    for name, value in pairs:
        saved.append((name, os.environ.get(name)))
        os.environ[name] = value
    return saved


def _restore_environ(saved):
    for name, old in reversed(saved):
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _execute(code, options, host_calls=True):
    """The `execute` export; `host_calls=False` is the build-time
    rehearsal's (finish_snapshot), which may not call the host."""
    try:
        _begin_in_instance()
        netinstall.new_execution()
        _ensure_path(options.sys_path)
        saved_env = _set_environ(options.environ)
        saved_argv = sys.argv
        sys.argv = list(options.argv) or [""]
        try:
            r = _runner.run(code, options.result_variable, options.stream_output,
                            options.max_output, options.trace, options.persistent,
                            options.clear_first, options.echo, host_calls)
        finally:
            sys.argv = saved_argv
            _restore_environ(saved_env)
        # Every string is made safe to lower (text.py): a lone
        # surrogate in an exception's message would trap.
        return Outcome(r.status, clean(r.stdout), clean(r.stderr), r.result_json,
                       None if r.result_error is None else clean(r.result_error),
                       clean(r.error_type), clean(r.error_message),
                       clean(r.traceback), u32(r.error_line), r.output_truncated,
                       r.exit_code)
    except BaseException as exc:  # noqa: BLE001 - an escape would trap
        status = STATUS_LIMIT if isinstance(exc, MemoryError) else STATUS_INTERNAL
        return Outcome(status, "", "", None, None, clean(type(exc).__name__),
                       clean("eryx guest failure: " + _safe_repr(exc)), "", 0,
                       False, None)


class WitWorld(wit_world.WitWorld):
    def execute(self, code, options):
        return _execute(code, options)

    def warm_up(self):
        try:
            _begin_in_instance()
            _runner.warm_up()
        except BaseException:  # noqa: BLE001 - only an optimization
            pass

    def snapshot_state(self, skip_unserializable):
        try:
            text, skipped = _runner.snapshot(skip_unserializable)
            return SnapshotResult(True, text, [clean(n) for n in skipped], "")
        except BaseException as exc:  # noqa: BLE001
            return SnapshotResult(False, "", [], clean(_message(exc)))

    def restore_state(self, text, sys_path):
        try:
            _ensure_path(sys_path)
            _runner.restore(text)
            return None
        except BaseException as exc:  # noqa: BLE001
            return clean(_message(exc))


def _message(exc):
    try:
        if isinstance(exc, snapshot.SnapshotError):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - str() of user code's exception
        return f"{type(exc).__name__}: <unprintable>"


def _safe_repr(exc):
    try:
        return repr(exc)
    except BaseException:  # noqa: BLE001
        return f"<unprintable {type(exc).__name__}>"


def _warm_up_dill():
    """dill imports some helpers lazily; make it do so now, while the
    build-time site-packages are still on the path."""
    import types as _types
    main = _types.ModuleType("__main__")
    exec("class C:\n    pass\ndef f(x):\n    return C, x\nv = [f, C(), lambda: 1]",
         main.__dict__)
    text, _ = snapshot.take(main, {}, False)
    snapshot.load(text, main)


def _rehearse():
    """Runs an execution's own path a few times without calling the host,
    so that what the interpreter fills in lazily (specialized bytecode in
    code objects, type version tags, the type cache) is in the snapshot
    instead of being written into each sandbox's copy of those pages. The
    instance still counts as fresh afterwards (random is reseeded)."""
    global _fresh_instance
    options = wit_world.ExecOptions(
        result_variable="", stream_output=False, max_output=1 << 20, trace=False,
        persistent=False, clear_first=False, echo=False, vfs_mount="", environ=[],
        sys_path=[], argv=[])
    for _ in range(3):
        _execute("pass", options, host_calls=False)
        _runner.warm_up()
    _fresh_instance = True


def finish_snapshot(path=("/python",)):
    """Leave the snapshot holding nothing of the build machine. A factory's
    entry module (factory.c) calls it again after its imports, with its
    package mounts on `path`."""
    # Only the stdlib mount (and a factory's packages) exist at run time;
    # the build-time directories (/0, /world, /bundled, site-packages)
    # would only cost failed stats.
    sys.path[:] = list(path)
    sys.path_importer_cache.clear()
    # The build environment's variables must not leak into sandboxes.
    os.environ.clear()
    _rehearse()
    import gc
    gc.collect()
    # Reference counts that sandboxes do not write, and no free chunks for
    # their allocations to land in all over the image (heap_image.py).
    heap_image.list_for_immortality()
    heap_image.plug_holes()
    # Move the snapshot's objects to the permanent generation: later
    # collections in a sandbox never traverse (and write GC state into)
    # them, so their pages can stay shared with the copy-on-write image.
    gc.freeze()


_warm_up_dill()
finish_snapshot()
