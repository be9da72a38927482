"""Puts the sandbox's `_socket` and `_ssl` (net_socket.py, net_ssl.py) under
the stdlib's socket.py and ssl.py, at build time.

asyncio imported socket.py (on CPython's own `_socket`) before this runs:
socket.py is re-executed on top of the shim, in place, so every module that
holds the `socket` module sees the shim's classes. What CPython's own
`_socket` can do on its own is nothing: the WASI context grants the guest no
network (tests/python/test_net.py proves it), so getting at it again
(deleting the shims from sys.modules, importing `_socket` afresh) gains
nothing.
"""

import importlib
import sys

from . import net_socket, net_ssl


def install():
    sys.modules["_socket"] = net_socket
    sys.modules["_ssl"] = net_ssl
    import socket
    importlib.reload(socket)
    import ssl
    # asyncio looked for ssl before it existed here.
    for name in ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto"):
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "ssl", None) is None:
            mod.ssl = ssl
    import asyncio.selector_events
    asyncio.selector_events._HAS_SENDMSG = False
    # http.client and urllib.request learn at import whether ssl exists.
    import http.client  # noqa: F401
    import urllib.request  # noqa: F401


def new_execution():
    """Sockets belong to one execution (the host closes them at its end)."""
    net_socket._forget_all()
