"""Line-level tracing of the user's code through the `emit-trace` import.

Installed with sys.settrace only for executions whose host asked for it.
The global tracer returns no local tracer for frames outside "<sandbox>",
so stdlib and library code runs untraced (and is never reported).
"""

import sys

from wit_world.imports import host

from .text import clean, u32

FILENAME = "<sandbox>"
_KINDS = {"call": 1, "line": 2, "return": 3, "exception": 4}


def _local(frame, event, arg):
    kind = _KINDS.get(event)
    if kind is not None:
        detail = clean(arg[0].__name__) if event == "exception" else ""
        host.emit_trace(kind, u32(frame.f_lineno), clean(frame.f_code.co_name), detail)
    return _local


def _global(frame, event, arg):
    if frame.f_code.co_filename != FILENAME:
        return None
    return _local(frame, event, arg)


def start():
    sys.settrace(_global)


def stop():
    sys.settrace(None)
