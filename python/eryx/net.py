"""NetConfig: the network policy of a sandbox (names as upstream pyeryx).

Networking is off unless a NetConfig is passed (`Sandbox(network=...)`).
Everything is decided by the host: the sandboxed code names a host and a
port, the host matches the name against the patterns (block beats allow),
resolves it itself, refuses every non-public address unless the policy
allows it explicitly (`allow_localhost()`, or a literal IP pattern), and
connects to the vetted address; TLS is done by the host with OpenSSL.
"""

from typing import List, Optional, Sequence, Union

_U32_MAX = 2**32 - 1


def _patterns(name: str, value: Optional[Sequence[str]]) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        raise TypeError(f"NetConfig.{name} must be a list of str, not a str")
    out = list(value)
    for p in out:
        _check_pattern(p)
    return out


def _check_pattern(pattern: str) -> str:
    if not isinstance(pattern, str):
        raise TypeError(f"a host pattern must be a str, not {type(pattern).__name__}")
    if not pattern or "\0" in pattern or len(pattern) > 1024:
        raise ValueError(f"invalid host pattern {pattern!r}")
    return pattern


class NetConfig:
    """Which hosts sandboxed code may connect to, and how long it may wait.

    - allowed_hosts: host patterns (`api.example.com`, `*.example.com`,
      `api.*.internal`, optionally with `:port`); empty means "any public
      host" (never private or loopback addresses);
    - blocked_hosts: patterns refused even when allowed (block beats allow);
    - allow_all_hosts: any public host, whatever `allowed_hosts` says
      (private addresses still need `allow_localhost()` or an IP pattern);
    - max_connections: connections open at once;
    - connect_timeout_ms, io_timeout_ms: the longest a connect, or one read
      or write, may take (sandboxed code may only ask for shorter);
    - root_certs: extra trusted CAs (PEM or DER), added with
      `with_root_cert`; the host's system roots are always trusted.
    """

    def __init__(self, *, max_connections: int = 10, connect_timeout_ms: int = 30_000,
                 io_timeout_ms: int = 60_000,
                 allowed_hosts: Optional[Sequence[str]] = None,
                 blocked_hosts: Optional[Sequence[str]] = None,
                 allow_all_hosts: bool = False,
                 root_certs: Optional[Sequence[bytes]] = None) -> None:
        self.max_connections = max_connections
        self.connect_timeout_ms = connect_timeout_ms
        self.io_timeout_ms = io_timeout_ms
        self.allowed_hosts = _patterns("allowed_hosts", allowed_hosts)
        self.blocked_hosts = _patterns("blocked_hosts", blocked_hosts)
        self.allow_all_hosts = bool(allow_all_hosts)
        self.localhost_allowed = False
        self.root_certs: List[bytes] = []
        for cert in root_certs or ():
            self.with_root_cert(cert)

    @staticmethod
    def permissive() -> "NetConfig":
        """Any public host and loopback. Use with care: sandboxed code then
        reaches the host's own services on localhost."""
        cfg = NetConfig(allow_all_hosts=True)
        cfg.localhost_allowed = True
        return cfg

    def allow_host(self, pattern: str) -> "NetConfig":
        """Adds an allowed host pattern; returns self."""
        self.allowed_hosts.append(_check_pattern(pattern))
        return self

    def block_host(self, pattern: str) -> "NetConfig":
        """Adds a blocked host pattern (beats any allow); returns self."""
        self.blocked_hosts.append(_check_pattern(pattern))
        return self

    def allow_localhost(self) -> "NetConfig":
        """Lets `localhost` and loopback addresses through (off by default);
        returns self."""
        self.localhost_allowed = True
        return self

    def with_root_cert(self, cert: Union[bytes, bytearray, memoryview, str]) -> "NetConfig":
        """Trusts one more CA certificate (PEM text or bytes, or DER bytes);
        returns self."""
        if isinstance(cert, str):
            cert = cert.encode("ascii")
        if not isinstance(cert, (bytes, bytearray, memoryview)):
            raise TypeError("a root certificate must be bytes (PEM or DER)")
        cert = bytes(cert)
        if not cert:
            raise ValueError("empty root certificate")
        self.root_certs.append(cert)
        return self

    def __repr__(self) -> str:
        return (f"NetConfig(allowed_hosts={self.allowed_hosts!r}, "
                f"blocked_hosts={self.blocked_hosts!r}, "
                f"allow_all_hosts={self.allow_all_hosts!r}, "
                f"localhost={self.localhost_allowed!r}, "
                f"max_connections={self.max_connections!r}, "
                f"connect_timeout_ms={self.connect_timeout_ms!r}, "
                f"io_timeout_ms={self.io_timeout_ms!r}, root_certs={len(self.root_certs)})")

    def _native(self) -> tuple:
        """(allowed, blocked, allow_all, allow_localhost, max_connections,
        connect_timeout_ms, io_timeout_ms, root_certs) for the extension."""
        def count(name, value):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"NetConfig.{name} must be a positive int, not {value!r}")
            return min(value, _U32_MAX)

        allowed = [_check_pattern(p) for p in self.allowed_hosts]
        blocked = [_check_pattern(p) for p in self.blocked_hosts]
        return (allowed, blocked, bool(self.allow_all_hosts), bool(self.localhost_allowed),
                count("max_connections", self.max_connections),
                count("connect_timeout_ms", self.connect_timeout_ms),
                count("io_timeout_ms", self.io_timeout_ms),
                [bytes(c) for c in self.root_certs])
