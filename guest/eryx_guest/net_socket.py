"""The sandbox's `_socket`: TCP through the host's `net` imports.

The stdlib's socket.py is built on this module (netinstall.py puts it in
sys.modules as `_socket`). A socket here holds no OS socket: connect()
hands the *name* and port to the host, which applies the policy, resolves,
vets the address, connects and returns a handle; send/recv move bytes
through that handle. getaddrinfo() therefore resolves nothing: it returns
the name itself as the address, so that http.client, urllib and asyncio
(getaddrinfo, then connect) leave resolution and vetting to the host.

Every socket has a guest-side number (fileno()) that stays the same from
creation to close, mapped to its state in `_states`: the stdlib hands
sockets around by number (`socket(fileno=...)`, `detach()`, selectors).
"""

import errno as _errno
import itertools as _itertools
import math as _math

import _socket as _native  # CPython's own module: constants and pure helpers

from wit_world.imports import net as _net
from componentize_py_types import Err as _Err

# ---- constants and pure helpers, as CPython's module has them --------------
for _name in dir(_native):
    if _name.isupper():
        globals()[_name] = getattr(_native, _name)
from _socket import (  # noqa: E402,F401 - pure functions, no I/O
    htonl, htons, inet_aton, inet_ntoa, inet_ntop, inet_pton, ntohl, ntohs)

has_ipv6 = True
error = OSError
timeout = TimeoutError
herror = _native.herror
gaierror = _native.gaierror
_NONBLOCK_FLAGS = getattr(_native, "SOCK_NONBLOCK", 0) | getattr(_native, "SOCK_CLOEXEC", 0)

_U32 = 2**32 - 1
_MAX_SEND = 4 * 1024 * 1024      # bytes handed to one net.send
_FIRST_FD = 1000                 # guest socket numbers: clear of WASI's fds
_default_timeout = None


class _State:
    """What a socket number stands for (shared by `socket(fileno=)` copies)."""
    __slots__ = ("family", "type", "proto", "handle", "peer", "peek", "shut_wr",
                 "tls")

    def __init__(self, family, type, proto):
        self.family, self.type, self.proto = family, type, proto
        self.handle = None   # the host's handle once connected
        self.peer = None     # (name, port) as the guest asked
        self.peek = b""      # bytes read ahead by MSG_PEEK
        self.shut_wr = False
        self.tls = None      # net.TlsInfo once the host did a handshake


_states = {}
_next_fd = _itertools.count(_FIRST_FD)


def _ms(seconds):
    """A socket timeout (None / seconds) as the host's option<u32> ms."""
    if seconds is None:
        return None
    if seconds <= 0:
        return 0
    return min(_U32, max(1, _math.ceil(seconds * 1000)))


_KIND_ERRNO = {
    "refused": (ConnectionRefusedError, _errno.ECONNREFUSED),
    "reset": (ConnectionResetError, _errno.ECONNRESET),
    "unreachable": (OSError, _errno.EHOSTUNREACH),
    "would-block": (BlockingIOError, _errno.EAGAIN),
    "denied": (PermissionError, _errno.EACCES),
    "limit": (OSError, _errno.EMFILE),
    "invalid": (OSError, _errno.EINVAL),
    "closed": (OSError, _errno.EBADF),
    "off": (OSError, _errno.ENETUNREACH),
}


def _exception_for(err, op=""):
    """The CPython exception for a net-error (tls kinds: see net_ssl)."""
    kind, msg = err.kind, err.message or err.kind
    if kind == "timeout":
        return TimeoutError(msg if msg != kind else "timed out")
    if kind == "dns":
        return gaierror(_native.EAI_NONAME, msg)
    if kind == "closed" and op == "send":
        return BrokenPipeError(_errno.EPIPE, msg)
    if kind == "would-block":
        msg = "Resource temporarily unavailable"
    if kind == "off":
        msg = msg if "off" in msg else "networking is off for this sandbox: " + msg
    cls, code = _KIND_ERRNO.get(kind, (OSError, _errno.EIO))
    return cls(code, msg)


def _parse_address(text, family):
    host, _, port = text.rpartition(":")
    if host.startswith("["):
        host = host[1:-1]
    try:
        port = int(port)
    except ValueError:
        port = 0
    if family == AF_INET6:
        return (host, port, 0, 0)
    return (host, port)


def _check_port(port, what):
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 65535:
        raise OverflowError(f"{what}: port must be 0-65535.")
    return port


def _host_text(host):
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii")
    if not isinstance(host, str):
        raise TypeError(f"str, bytes or bytearray expected, not {type(host).__name__}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    return host


class socket:
    """A TCP socket whose connection is made, and whose bytes move, through
    the host (see the module's doc)."""

    __slots__ = ("_fd", "_timeout")  # socket.py adds __weakref__ itself

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None:
            family = AF_INET if family == -1 else int(family)
            type = SOCK_STREAM if type == -1 else int(type)
            proto = 0 if proto == -1 else int(proto)
            if family not in (AF_INET, AF_INET6):
                raise OSError(_errno.EAFNOSUPPORT,
                              "only AF_INET and AF_INET6 sockets exist in the sandbox")
            nonblock = bool(type & getattr(_native, "SOCK_NONBLOCK", 0))
            type &= ~_NONBLOCK_FLAGS
            if type != SOCK_STREAM:
                raise OSError(_errno.EPROTONOSUPPORT,
                              "only TCP (SOCK_STREAM) sockets exist in the sandbox")
            fd = next(_next_fd)
            _states[fd] = _State(family, type, proto)
            self._timeout = 0.0 if nonblock else _default_timeout
        else:
            if isinstance(fileno, bool) or not isinstance(fileno, int):
                raise TypeError("fileno must be an int")
            fd = fileno
            st = _states.get(fd)
            if st is None:
                raise OSError(_errno.EBADF, "Bad file descriptor")
            self._timeout = _default_timeout
        self._fd = fd

    # ---- identity ---------------------------------------------------------
    def _state(self):
        st = _states.get(self._fd)
        if st is None:
            raise OSError(_errno.EBADF, "Bad file descriptor")
        return st

    def _handle(self):
        h = self._state().handle
        if h is None:
            raise OSError(_errno.ENOTCONN, "Transport endpoint is not connected")
        return h

    @property
    def family(self):
        st = _states.get(self._fd)
        return st.family if st else AF_INET

    @property
    def type(self):
        st = _states.get(self._fd)
        return st.type if st else SOCK_STREAM

    @property
    def proto(self):
        st = _states.get(self._fd)
        return st.proto if st else 0

    @property
    def timeout(self):
        return self._timeout

    def fileno(self):
        return self._fd

    def __repr__(self):
        return (f"<eryx socket fd={self._fd}, family={self.family}, type={self.type}, "
                f"proto={self.proto}>")

    # ---- timeouts ---------------------------------------------------------
    def settimeout(self, value):
        if value is not None:
            value = float(value)
            if value != value:
                raise ValueError("Invalid value NaN (not a number)")
            if value < 0:
                raise ValueError("Timeout value out of range")
        self._timeout = value

    def gettimeout(self):
        return self._timeout

    def setblocking(self, flag):
        self._timeout = None if flag else 0.0

    def getblocking(self):
        return self._timeout != 0.0

    # ---- connecting -------------------------------------------------------
    def connect(self, address):
        st = self._state()
        if st.handle is not None:
            raise OSError(_errno.EISCONN, "Transport endpoint is already connected")
        if not isinstance(address, tuple) or len(address) not in (2, 4) \
                or (len(address) == 4 and st.family != AF_INET6):
            raise TypeError(
                f"{'AF_INET6' if st.family == AF_INET6 else 'AF_INET'} address must be a "
                f"tuple, not {type(address).__name__}")
        host = _host_text(address[0])
        port = _check_port(address[1], "connect()")
        # Connecting blocks even on a non-blocking socket: the host connects
        # in one call (within the policy's connect timeout).
        tmo = None if not self._timeout else _ms(self._timeout)
        try:
            handle = _net.connect(host, port, tmo)
        except _Err as e:
            raise _exception_for(e.value, "connect") from None
        st.handle = handle
        st.peer = (host, port)

    def connect_ex(self, address):
        try:
            self.connect(address)
        except gaierror:
            raise
        except OSError as e:
            return e.errno or _errno.EIO
        return 0

    def bind(self, address):
        raise OSError(_errno.EACCES,
                      "the sandbox can only open outgoing TCP connections (bind is refused)")

    def listen(self, backlog=0):
        raise OSError(_errno.EACCES,
                      "the sandbox can only open outgoing TCP connections (listen is refused)")

    def _accept(self):
        raise OSError(_errno.EINVAL, "the sandbox cannot accept connections")

    def getpeername(self):
        st = self._state()
        if st.handle is None:
            raise OSError(_errno.ENOTCONN, "Transport endpoint is not connected")
        try:
            peer, _ = _net.addresses(st.handle)
        except _Err as e:
            raise _exception_for(e.value) from None
        return _parse_address(peer, st.family)

    def getsockname(self):
        st = self._state()
        if st.handle is None:
            return ("::", 0, 0, 0) if st.family == AF_INET6 else ("0.0.0.0", 0)
        try:
            _, local = _net.addresses(st.handle)
        except _Err as e:
            raise _exception_for(e.value) from None
        return _parse_address(local, st.family)

    # ---- options: accepted, nothing to tune on the guest side -------------
    def setsockopt(self, level, optname, value, optlen=None):
        self._state()
        if not isinstance(level, int) or not isinstance(optname, int):
            raise TypeError("level and option must be integers")

    def getsockopt(self, level, optname, buflen=None):
        st = self._state()
        value = 0
        if level == SOL_SOCKET:
            if optname == SO_TYPE:
                value = st.type
            elif optname == getattr(_native, "SO_DOMAIN", -1):
                value = st.family
            elif optname == getattr(_native, "SO_PROTOCOL", -1):
                value = st.proto or IPPROTO_TCP
        if buflen:
            return value.to_bytes(4, "little")[:buflen].ljust(buflen, b"\0")
        return value

    # ---- bytes ------------------------------------------------------------
    def send(self, data, flags=0):
        h = self._handle()
        with memoryview(data) as view:
            chunk = bytes(view.cast("B")[:_MAX_SEND]) if view.nbytes else b""
        if not chunk:
            return 0
        try:
            return _net.send(h, chunk, _ms(self._timeout))
        except _Err as e:
            raise _exception_for(e.value, "send") from None

    def sendall(self, data, flags=0):
        import time as _time
        h = self._handle()
        deadline = None if not self._timeout else _time.monotonic() + self._timeout
        with memoryview(data) as view, view.cast("B") as b:
            sent, total = 0, b.nbytes
            while sent < total:
                tmo = _ms(self._timeout)
                if deadline is not None:
                    left = deadline - _time.monotonic()
                    if left <= 0:
                        raise TimeoutError("timed out")
                    tmo = _ms(left)
                try:
                    sent += _net.send(h, bytes(b[sent:sent + _MAX_SEND]), tmo)
                except _Err as e:
                    raise _exception_for(e.value, "send") from None

    def sendto(self, data, flags_or_addr, addr=None):
        raise OSError(_errno.EISCONN, "sendto is not available on TCP sockets")

    def recv(self, bufsize, flags=0):
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        st = self._state()
        if st.handle is None:
            raise OSError(_errno.ENOTCONN, "Transport endpoint is not connected")
        peek = flags & MSG_PEEK
        if bufsize == 0:
            return b""
        if st.peek:
            data = st.peek[:bufsize]
            if not peek:
                st.peek = st.peek[len(data):]
            return data
        try:
            data = _net.recv(st.handle, min(bufsize, _U32), _ms(self._timeout))
        except _Err as e:
            raise _exception_for(e.value, "recv") from None
        if peek:
            st.peek = data
        return data

    def recv_into(self, buffer, nbytes=0, flags=0):
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        with memoryview(buffer) as view, view.cast("B") as b:
            n = nbytes or b.nbytes
            if n > b.nbytes:
                raise ValueError("buffer too small for requested bytes")
            data = self.recv(n, flags)
            b[:len(data)] = data
            return len(data)

    def recvfrom(self, bufsize, flags=0):
        return self.recv(bufsize, flags), None

    def recvfrom_into(self, buffer, nbytes=0, flags=0):
        return self.recv_into(buffer, nbytes, flags), None

    def shutdown(self, how):
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise OSError(_errno.EINVAL, "Invalid argument")
        st = self._state()
        if st.handle is None:
            raise OSError(_errno.ENOTCONN, "Transport endpoint is not connected")
        try:
            _net.shutdown(st.handle, {SHUT_RD: 1, SHUT_WR: 2, SHUT_RDWR: 3}[how])
        except _Err as e:
            raise _exception_for(e.value) from None
        if how != SHUT_RD:
            st.shut_wr = True

    # ---- lifetime ---------------------------------------------------------
    def close(self):
        fd, self._fd = self._fd, -1
        _close_fd(fd)

    def detach(self):
        fd, self._fd = self._fd, -1
        return fd

    def __del__(self):
        fd = getattr(self, "_fd", -1)
        if fd != -1:
            self._fd = -1
            _close_fd(fd)

    def __getstate__(self):
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")


SocketType = socket


def _close_fd(fd):
    st = _states.pop(fd, None)
    if st is not None and st.handle is not None:
        _net.close(st.handle)


def _handle_of(fd):
    """The host handle behind a socket number, or None (for the selector)."""
    st = _states.get(fd)
    return None if st is None else st.handle


def _state_of(fd):
    return _states.get(fd)


def _forget_all():
    """Drops every socket of the execution that ended (the host closed its
    handles already)."""
    _states.clear()


def close(fd):
    _close_fd(fd)


def dup(fd):
    raise OSError(_errno.EOPNOTSUPP, "sockets cannot be duplicated in the sandbox")


def getdefaulttimeout():
    return _default_timeout


def setdefaulttimeout(value):
    global _default_timeout
    if value is not None:
        value = float(value)
        if value < 0:
            raise ValueError("Timeout value out of range")
    _default_timeout = value


_SERVICES = {"http": 80, "https": 443, "ftp": 21, "ssh": 22, "smtp": 25, "domain": 53,
             "pop3": 110, "imap": 143, "imaps": 993, "pop3s": 995, "submission": 587,
             "smtps": 465, "ldap": 389, "ldaps": 636, "mysql": 3306, "postgresql": 5432,
             "redis": 6379, "http-alt": 8080}


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    """Resolves nothing: the name itself is the address (the host resolves
    and vets it at connect time)."""
    if host is None:
        host = "::1" if family == AF_INET6 else "127.0.0.1"
    else:
        host = _host_text(host)
    if not host:
        raise gaierror(_native.EAI_NONAME, "Name or service not known")
    if port is None:
        port = 0
    elif isinstance(port, (bytes, bytearray)):
        port = bytes(port).decode("ascii")
    if isinstance(port, str):
        if port.isdigit():
            port = int(port)
        elif port in _SERVICES:
            port = _SERVICES[port]
        else:
            raise gaierror(_native.EAI_SERVICE, "Servname not supported for ai_socktype")
    elif isinstance(port, bool) or not isinstance(port, int):
        raise OSError("Int or String expected")
    if not 0 <= port <= 65535:
        raise gaierror(_native.EAI_SERVICE, "Servname not supported for ai_socktype")
    if family not in (0, AF_INET, AF_INET6):
        raise gaierror(_native.EAI_FAMILY, "ai_family not supported")
    if type not in (0, SOCK_STREAM):
        # Only TCP exists: no answers for datagram sockets.
        raise gaierror(_native.EAI_SOCKTYPE, "only TCP (SOCK_STREAM) is available")
    literal6 = ":" in host
    if literal6 and family == AF_INET:
        raise gaierror(_native.EAI_ADDRFAMILY, "Address family for hostname not supported")
    canon = host if flags & AI_CANONNAME else ""
    if literal6 or family == AF_INET6:
        return [(AF_INET6, SOCK_STREAM, IPPROTO_TCP, canon, (host, port, 0, 0))]
    return [(AF_INET, SOCK_STREAM, IPPROTO_TCP, canon, (host, port))]


def getnameinfo(sockaddr, flags):
    if not isinstance(sockaddr, tuple) or len(sockaddr) < 2:
        raise TypeError("getnameinfo() argument 1 must be a tuple")
    return _host_text(sockaddr[0]), str(_check_port(sockaddr[1], "getnameinfo()"))


def _literal(name):
    for fam in (AF_INET, AF_INET6):
        try:
            inet_pton(fam, name)
            return True
        except OSError:
            pass
    return False


def gethostname():
    return "sandbox"


def gethostbyname(name):
    name = _host_text(name)
    try:
        inet_pton(AF_INET, name)
        return name
    except OSError:
        raise gaierror(_native.EAI_NONAME,
                       f"{name}: names are resolved by the host when connecting; "
                       f"the sandbox cannot look them up") from None


def gethostbyname_ex(name):
    return name, [], [gethostbyname(name)]


def gethostbyaddr(addr):
    raise herror(1, "Unknown host")


def getprotobyname(name):
    try:
        return {"ip": 0, "tcp": 6, "udp": 17, "icmp": 1, "ipv6": 41}[name]
    except KeyError:
        raise OSError("protocol not found") from None


def getservbyname(name, proto=None):
    try:
        return _SERVICES[name]
    except KeyError:
        raise OSError("service/proto not found") from None


def getservbyport(port, proto=None):
    for k, v in _SERVICES.items():
        if v == port:
            return k
    raise OSError("port/proto not found")


del _name
