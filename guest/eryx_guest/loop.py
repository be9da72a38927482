"""The sandbox's asyncio event loop and host-mediated sleeping.

WASI has no socketpair(), so asyncio's default selector loop cannot even be
created. SandboxEventLoop is asyncio's selector loop without the self-pipe,
over a selector whose wait goes through the host (net.wait on the sockets'
handles, callback-wait, or sleep): the host bounds every wait by the
execution's deadline (a wasm epoch deadline cannot interrupt a guest blocked
inside a host call, so no guest wait may block on its own).
"""

import asyncio
import asyncio.unix_events
import selectors
import socket
import time
from asyncio import selector_events

from wit_world.imports import host, net

from . import callbacks, capture, net_socket


def host_sleep(seconds):
    """Replacement for time.sleep: the host wakes us at the deadline."""
    seconds = float(seconds)
    if seconds != seconds:
        raise ValueError("Invalid value NaN (not a number)")
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    if seconds > 0:
        capture.flush_all()
        host.sleep(min(int(seconds * 1e9), 2**63 - 1))


class _HostSelector(selectors._BaseSelectorImpl):
    """The loop's one wait: on sockets (net.wait, which also wakes when a
    callback answer is waiting), else on callbacks, else a sleep; every one
    of them bounded by the host (deadline, cancel)."""

    def select(self, timeout=None):
        interest, by_handle = [], {}
        for key in self._fd_to_key.values():
            handle = net_socket._handle_of(key.fd)
            if handle is not None:
                interest.append((handle, key.events & 3))
                by_handle[handle] = key
        ns = None if timeout is None else max(0, min(int(timeout * 1e9), 2**63 - 1))
        if interest:
            capture.flush_all()
            ready = net.wait(interest, ns)
            if callbacks.pending:
                callbacks.deliver(host.callback_wait(0))
            events = []
            for handle, mask in ready:
                key = by_handle.get(handle)
                if key is not None and mask & key.events:
                    events.append((key, mask & key.events))
            return events
        if callbacks.pending:
            # Host calls in flight: wait for their answers (or the timeout).
            capture.flush_all()
            callbacks.deliver(host.callback_wait(ns))
            return []
        if timeout is None:
            # Nothing is scheduled and nothing can wake the loop up.
            raise RuntimeError(
                "event loop deadlock: awaiting something that nothing will complete")
        if timeout > 0:
            host_sleep(timeout)
        return []


class SandboxEventLoop(selector_events.BaseSelectorEventLoop):
    """asyncio's selector loop over the host's wait; TLS is done by the host
    on the socket's handle (not with asyncio's MemoryBIO protocol)."""

    def __init__(self):
        super().__init__(_HostSelector())

    def only_callbacks_can_wake(self):
        """True when nothing is ready, timed or watched: the next turn would
        only wait for callback answers (callbacks.call's lone-await path)."""
        return not self._ready and not self._scheduled and not self._selector.get_map()

    def _make_self_pipe(self):
        # WASI has no socketpair(); only another thread would need to wake
        # the loop, and the sandbox has none.
        self._ssock = self._csock = None
        self._internal_fds = 0

    def _close_self_pipe(self):
        pass

    def _write_to_self(self):
        pass

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        # No thread pool, and nothing to wait for: the host resolves later.
        return socket.getaddrinfo(host, port, family, type, proto, flags)

    async def getnameinfo(self, sockaddr, flags=0):
        return socket.getnameinfo(sockaddr, flags)

    def _make_ssl_transport(self, rawsock, protocol, sslcontext, waiter=None, *,
                            server_side=False, server_hostname=None, extra=None,
                            server=None, ssl_handshake_timeout=None,
                            ssl_shutdown_timeout=None, call_connection_made=True):
        try:
            extra = dict(extra or {}, **_host_tls(rawsock, sslcontext, server_side,
                                                  server_hostname))
        except BaseException:
            rawsock.close()
            raise
        return self._make_socket_transport(rawsock, protocol, waiter, extra=extra,
                                           server=server)

    async def start_tls(self, transport, protocol, sslcontext, *, server_side=False,
                        server_hostname=None, ssl_handshake_timeout=None,
                        ssl_shutdown_timeout=None):
        import ssl
        if not isinstance(sslcontext, ssl.SSLContext):
            raise TypeError(f"sslcontext is expected to be an instance of "
                            f"ssl.SSLContext, got {sslcontext!r}")
        sock = getattr(transport, "_sock", None)
        if sock is None or not isinstance(transport, selector_events._SelectorTransport):
            raise TypeError(f"transport {transport!r} is not supported by start_tls()")
        # What the transport still holds goes out in plain text first.
        while transport.get_write_buffer_size() and not transport.is_closing():
            await asyncio.sleep(0.001)
        reading = transport.is_reading()
        if reading:
            transport.pause_reading()
        try:
            transport._extra.update(_host_tls(sock, sslcontext, server_side, server_hostname))
        except BaseException:
            transport.close()
            raise
        if reading:
            transport.resume_reading()
        return transport


def _host_tls(sock, sslcontext, server_side, server_hostname):
    """The host's TLS handshake on `sock`; the transport's ssl extras."""
    import ssl
    if server_side:
        raise NotImplementedError("server-side TLS is not available in the sandbox")
    if sslcontext is None or isinstance(sslcontext, bool):
        sslcontext = ssl.create_default_context()
    sslobj = sslcontext._wrap_socket(sock, False, sslcontext._encode_hostname(server_hostname))
    sslobj.do_handshake()
    return {"sslcontext": sslcontext, "ssl_object": sslobj,
            "peercert": sslobj.getpeercert(), "cipher": sslobj.cipher(),
            "compression": sslobj.compression()}


def install():
    """Make time.sleep, asyncio.run() and new_event_loop() use the host."""
    time.sleep = host_sleep
    asyncio.unix_events._UnixDefaultEventLoopPolicy._loop_factory = SandboxEventLoop
    asyncio.unix_events.SelectorEventLoop = SandboxEventLoop
    asyncio.unix_events.EventLoop = SandboxEventLoop
    asyncio.EventLoop = SandboxEventLoop
    asyncio.SelectorEventLoop = SandboxEventLoop
