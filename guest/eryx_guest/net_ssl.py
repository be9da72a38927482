"""The sandbox's `_ssl`: TLS done by the host.

The stdlib's ssl.py is built on this module (netinstall.py installs it as
`_ssl`). The guest holds no keys and runs no TLS code: a handshake is
`net.start_tls` on the connection's handle (the host does SNI, certificate
and hostname verification with OpenSSL, against the system's roots plus
the policy's CAs), and later reads and writes on that handle are TLS.

What follows from it: certificate verification cannot be switched off from
inside the sandbox (a CA is trusted by adding it to the policy:
`NetConfig.with_root_cert`), CA files loaded in the sandbox change nothing,
there is no server side, no client certificates and no MemoryBIO TLS.
"""

import json as _json
import os as _os
import weakref as _weakref

from wit_world.imports import net as _net
from componentize_py_types import Err as _Err

from . import net_socket as _sock

OPENSSL_VERSION = "OpenSSL (host-side TLS through Eryx)"
OPENSSL_VERSION_INFO = (3, 0, 0, 0, 0)
OPENSSL_VERSION_NUMBER = 0x30000000
_OPENSSL_API_VERSION = OPENSSL_VERSION_INFO
_DEFAULT_CIPHERS = "@SECLEVEL=2:ECDH+AESGCM:ECDH+CHACHA20:ECDH+AES:!aNULL:!eNULL"

# OpenSSL's numbers, as CPython's _ssl exports them.
CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED = 0, 1, 2
ENCODING_PEM, ENCODING_DER = 1, 2
PROTOCOL_SSLv23 = PROTOCOL_TLS = 2
PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER = 16, 17
PROTOCOL_TLSv1, PROTOCOL_TLSv1_1, PROTOCOL_TLSv1_2 = 3, 4, 5
PROTO_MINIMUM_SUPPORTED, PROTO_MAXIMUM_SUPPORTED = -2, -1
PROTO_SSLv3, PROTO_TLSv1, PROTO_TLSv1_1, PROTO_TLSv1_2, PROTO_TLSv1_3 = 768, 769, 770, 771, 772
HAS_SNI = HAS_ECDH = HAS_ALPN = HAS_TLSv1_2 = HAS_TLSv1_3 = HAS_TLS_UNIQUE = True
HAS_NPN = HAS_SSLv2 = HAS_SSLv3 = HAS_TLSv1 = HAS_TLSv1_1 = HAS_PSK = HAS_PHA = False
HOSTFLAG_ALWAYS_CHECK_SUBJECT, HOSTFLAG_NO_WILDCARDS = 1, 2
HOSTFLAG_NO_PARTIAL_WILDCARDS, HOSTFLAG_MULTI_LABEL_WILDCARDS = 4, 8
HOSTFLAG_SINGLE_LABEL_SUBDOMAINS, HOSTFLAG_NEVER_CHECK_SUBJECT = 16, 32
OP_ALL = 0x80000050
OP_NO_SSLv2 = OP_SINGLE_DH_USE = OP_SINGLE_ECDH_USE = 0
OP_IGNORE_UNEXPECTED_EOF = 0x80
OP_NO_TICKET = 0x4000
OP_NO_COMPRESSION = 0x20000
OP_ENABLE_MIDDLEBOX_COMPAT = 0x100000
OP_CIPHER_SERVER_PREFERENCE = 0x400000
OP_NO_SSLv3 = 0x2000000
OP_NO_TLSv1 = 0x4000000
OP_NO_TLSv1_2 = 0x8000000
OP_NO_TLSv1_1 = 0x10000000
OP_NO_TLSv1_3 = 0x20000000
OP_NO_RENEGOTIATION = 0x40000000
SSL_ERROR_SSL, SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE = 1, 2, 3
SSL_ERROR_WANT_X509_LOOKUP, SSL_ERROR_SYSCALL, SSL_ERROR_ZERO_RETURN = 4, 5, 6
SSL_ERROR_WANT_CONNECT, SSL_ERROR_EOF, SSL_ERROR_INVALID_ERROR_CODE = 7, 8, 10
VERIFY_DEFAULT, VERIFY_CRL_CHECK_LEAF, VERIFY_CRL_CHECK_CHAIN = 0, 4, 12
VERIFY_X509_STRICT, VERIFY_ALLOW_PROXY_CERTS = 0x20, 0x40
VERIFY_X509_TRUSTED_FIRST, VERIFY_X509_PARTIAL_CHAIN = 0x8000, 0x80000
_ALERTS = dict(CLOSE_NOTIFY=0, UNEXPECTED_MESSAGE=10, BAD_RECORD_MAC=20, RECORD_OVERFLOW=22,
               DECOMPRESSION_FAILURE=30, HANDSHAKE_FAILURE=40, BAD_CERTIFICATE=42,
               UNSUPPORTED_CERTIFICATE=43, CERTIFICATE_REVOKED=44, CERTIFICATE_EXPIRED=45,
               CERTIFICATE_UNKNOWN=46, ILLEGAL_PARAMETER=47, UNKNOWN_CA=48, ACCESS_DENIED=49,
               DECODE_ERROR=50, DECRYPT_ERROR=51, PROTOCOL_VERSION=70,
               INSUFFICIENT_SECURITY=71, INTERNAL_ERROR=80, USER_CANCELLED=90,
               NO_RENEGOTIATION=100, UNSUPPORTED_EXTENSION=110,
               CERTIFICATE_UNOBTAINABLE=111, UNRECOGNIZED_NAME=112,
               BAD_CERTIFICATE_STATUS_RESPONSE=113, BAD_CERTIFICATE_HASH_VALUE=114,
               UNKNOWN_PSK_IDENTITY=115)
for _k, _v in _ALERTS.items():
    globals()["ALERT_DESCRIPTION_" + _k] = _v
del _k, _v


class SSLError(OSError):
    """An error in the TLS layer (the host's OpenSSL reported it)."""
    library = None
    reason = None

    def __str__(self):
        if len(self.args) >= 2 and isinstance(self.args[1], str):
            return self.args[1]
        return super().__str__()


class SSLZeroReturnError(SSLError):
    """The TLS connection was closed cleanly."""


class SSLWantReadError(SSLError):
    """Non-blocking: the TLS layer needs to read first."""


class SSLWantWriteError(SSLError):
    """Non-blocking: the TLS layer needs to write first."""


class SSLSyscallError(SSLError):
    """A system error below TLS."""


class SSLEOFError(SSLError):
    """The connection ended in violation of the protocol."""


class SSLCertVerificationError(SSLError, ValueError):
    """The server's certificate did not verify."""
    verify_code = 1
    verify_message = ""


def _tls_error(err, context=None):
    """The exception for a net-error met during or after a handshake."""
    kind, msg = err.kind, err.message or err.kind
    if kind == "tls-verify":
        note = ""
        if context is not None and context.verify_mode == CERT_NONE:
            note = (" (the sandbox always verifies certificates: trust a CA by adding "
                    "it to the host's network policy)")
        e = SSLCertVerificationError(SSL_ERROR_SSL,
                                     f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                                     f"failed: {msg}{note}")
        e.verify_message, e.verify_code = msg, 1
        e.reason, e.library = "CERTIFICATE_VERIFY_FAILED", "SSL"
        return e
    if kind == "tls":
        e = SSLError(SSL_ERROR_SSL, f"[SSL] {msg}")
        e.library = "SSL"
        return e
    if kind == "would-block":
        return SSLWantReadError(SSL_ERROR_WANT_READ, "The operation did not complete (read)")
    if kind == "timeout":
        return TimeoutError("The handshake operation timed out"
                            if "handshake" in msg else msg)
    return _sock._exception_for(err)


def _tupled(value):
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    if isinstance(value, dict):
        return {k: _tupled(v) for k, v in value.items()}
    return value


_OBJECTS = [(129, "serverAuth", "TLS Web Server Authentication", "1.3.6.1.5.5.7.3.1"),
            (130, "clientAuth", "TLS Web Client Authentication", "1.3.6.1.5.5.7.3.2")]


def txt2obj(txt, name=False):
    for obj in _OBJECTS:
        if txt == obj[3] or (name and txt in (obj[1], obj[2])):
            return obj
    raise ValueError(f"unknown object '{txt}'")


def nid2obj(nid):
    for obj in _OBJECTS:
        if nid == obj[0]:
            return obj
    raise ValueError(f"unknown NID {nid}")


def RAND_status():
    return True


def RAND_add(string, entropy):
    pass


def RAND_bytes(n):
    return _os.urandom(n)


def get_default_verify_paths():
    return ("SSL_CERT_FILE", "/etc/ssl/cert.pem", "SSL_CERT_DIR", "/etc/ssl/certs")


class MemoryBIO:
    """A byte buffer (kept for ssl.py's API; TLS over it is not available)."""

    def __init__(self):
        self._buf = bytearray()
        self.eof = False
        self._eof_written = False

    @property
    def pending(self):
        return len(self._buf)

    def read(self, size=-1):
        n = len(self._buf) if size < 0 else min(size, len(self._buf))
        data = bytes(self._buf[:n])
        del self._buf[:n]
        self.eof = self._eof_written and not self._buf
        return data

    def write(self, data):
        if self._eof_written:
            raise SSLError("cannot write() after write_eof()")
        self._buf += data
        return len(data)

    def write_eof(self):
        self._eof_written = True
        self.eof = not self._buf


class SSLSession:
    """TLS sessions stay inside the host; never reused from the guest."""
    id = b""
    time = timeout = ticket_lifetime_hint = 0
    has_ticket = False


class Certificate:
    def __init__(self, der):
        self._der = der

    def public_bytes(self, format=ENCODING_PEM):
        if format == ENCODING_DER:
            return self._der
        import base64
        b64 = base64.encodebytes(self._der).decode("ascii")
        return f"-----BEGIN CERTIFICATE-----\n{b64}-----END CERTIFICATE-----\n"


class _SSLContext:
    """Settings of TLS connections. Those that matter to the host (ALPN, the
    server name) travel with each handshake; the rest are kept so that
    client libraries can set and read them."""

    def __new__(cls, protocol=PROTOCOL_TLS_CLIENT, *args, **kwargs):
        if protocol not in (PROTOCOL_TLS, PROTOCOL_TLS_CLIENT, PROTOCOL_TLS_SERVER,
                            PROTOCOL_TLSv1, PROTOCOL_TLSv1_1, PROTOCOL_TLSv1_2):
            raise ValueError("invalid or unsupported protocol version %r" % (protocol,))
        self = object.__new__(cls)
        client = protocol == PROTOCOL_TLS_CLIENT
        self._protocol = protocol
        self._verify_mode = CERT_REQUIRED if client else CERT_NONE
        self._check_hostname = client
        self._options = OP_ALL | OP_NO_SSLv3 | OP_NO_COMPRESSION | OP_CIPHER_SERVER_PREFERENCE \
            | OP_ENABLE_MIDDLEBOX_COMPAT | OP_NO_TLSv1 | OP_NO_TLSv1_1
        self._verify_flags = VERIFY_X509_TRUSTED_FIRST
        self._minimum_version = PROTO_TLSv1_2
        self._maximum_version = PROTO_MAXIMUM_SUPPORTED
        self._msg_cb = None
        self._alpn = []
        self._host_flags = HOSTFLAG_NO_PARTIAL_WILDCARDS
        self.post_handshake_auth = False
        self.keylog_filename = None
        self.sni_callback = None
        self.security_level = 2
        self.num_tickets = 2
        return self

    def __init__(self, *args, **kwargs):
        pass

    protocol = property(lambda self: self._protocol)

    @property
    def verify_mode(self):
        return self._verify_mode

    @verify_mode.setter
    def verify_mode(self, value):
        value = int(value)
        if value not in (CERT_NONE, CERT_OPTIONAL, CERT_REQUIRED):
            raise ValueError("invalid value for verify_mode")
        if value == CERT_NONE and self._check_hostname:
            raise ValueError("Cannot set verify_mode to CERT_NONE when check_hostname "
                             "is enabled.")
        self._verify_mode = value

    @property
    def check_hostname(self):
        return self._check_hostname

    @check_hostname.setter
    def check_hostname(self, value):
        value = bool(value)
        if value and self._verify_mode == CERT_NONE:
            self._verify_mode = CERT_REQUIRED
        self._check_hostname = value

    @property
    def options(self):
        return self._options

    @options.setter
    def options(self, value):
        self._options = int(value)

    @property
    def verify_flags(self):
        return self._verify_flags

    @verify_flags.setter
    def verify_flags(self, value):
        self._verify_flags = int(value)

    @property
    def minimum_version(self):
        return self._minimum_version

    @minimum_version.setter
    def minimum_version(self, value):
        self._minimum_version = int(value)

    @property
    def maximum_version(self):
        return self._maximum_version

    @maximum_version.setter
    def maximum_version(self, value):
        self._maximum_version = int(value)

    @property
    def _msg_callback(self):
        return self._msg_cb

    @_msg_callback.setter
    def _msg_callback(self, value):
        self._msg_cb = value

    def set_ciphers(self, ciphers):
        if not isinstance(ciphers, str):
            raise TypeError("set_ciphers() argument must be str")

    def get_ciphers(self):
        return []

    def _set_alpn_protocols(self, wire):
        protos, i, wire = [], 0, bytes(wire)
        while i < len(wire):
            n = wire[i]
            protos.append(wire[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        self._alpn = protos

    def set_default_verify_paths(self):
        pass  # the host always uses the system's roots

    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        """Accepted and ignored: which CAs are trusted is the host's policy."""
        if cafile is None and capath is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        for path in (cafile, capath):
            if path is not None and not _os.path.exists(path):
                raise FileNotFoundError(2, "No such file or directory")

    def load_default_certs(self, purpose=None):
        pass

    def load_cert_chain(self, certfile, keyfile=None, password=None):
        raise SSLError(SSL_ERROR_SSL,
                       "client certificates are not available in the sandbox")

    def load_dh_params(self, path):
        pass

    def set_ecdh_curve(self, name):
        pass

    def cert_store_stats(self):
        return {"x509": 0, "crl": 0, "x509_ca": 0}

    def get_ca_certs(self, binary_form=False):
        return []

    def session_stats(self):
        return {k: 0 for k in ("number", "connect", "connect_good", "connect_renegotiate",
                               "accept", "accept_good", "accept_renegotiate", "hits",
                               "misses", "timeouts", "cache_full")}

    def set_psk_client_callback(self, callback, identity_hint=None):
        raise NotImplementedError("TLS-PSK is not available in the sandbox")

    def set_psk_server_callback(self, callback, identity_hint=None):
        raise NotImplementedError("TLS-PSK is not available in the sandbox")

    def _wrap_socket(self, sock, server_side=False, server_hostname=None, owner=None,
                     session=None):
        if server_side:
            raise SSLError(SSL_ERROR_SSL, "server-side TLS is not available in the sandbox")
        return _SSLSocket(self, sock, server_hostname, owner)

    def _wrap_bio(self, incoming, outgoing, server_side=False, server_hostname=None,
                  owner=None, session=None):
        raise NotImplementedError(
            "TLS over memory BIOs is not available in the sandbox: TLS is done by the "
            "host on a socket (ssl.SSLContext.wrap_socket, asyncio's ssl=)")


class _SSLSocket:
    """The TLS side of an ssl.SSLSocket: the host's TLS on its handle."""

    def __init__(self, context, sock, server_hostname, owner):
        self._context = context
        self._sock = _weakref.ref(sock)
        self.server_hostname = server_hostname
        self.owner = owner
        self.server_side = False
        self.session = None
        self.session_reused = False
        self._info = None

    @property
    def context(self):
        return self._context

    @context.setter
    def context(self, ctx):
        self._context = ctx

    def _socket(self):
        sock = self._sock()
        if sock is None:
            raise OSError(9, "Underlying socket has been closed.")
        return sock

    def _timeout_ms(self):
        return _sock._ms(self._socket().gettimeout())

    def do_handshake(self, blocking=False):
        if self._info is not None:
            return
        sock = self._socket()
        st = _sock._state_of(sock.fileno())
        if st is None or st.handle is None:
            raise OSError(107, "Transport endpoint is not connected")
        name = self.server_hostname or (st.peer[0] if st.peer else "")
        # The handshake blocks even on a non-blocking socket (one host call,
        # bounded by the policy's timeout and the execution's deadline).
        tmo = self._timeout_ms() or None
        try:
            self._info = _net.start_tls(st.handle, name, list(self._context._alpn), tmo)
        except _Err as e:
            raise _tls_error(e.value, self._context) from None
        st.tls = self._info

    def _handle(self):
        sock = self._socket()
        st = _sock._state_of(sock.fileno())
        if st is None or st.handle is None:
            raise OSError(107, "Transport endpoint is not connected")
        return st.handle

    def read(self, len=1024, buffer=None):
        if self._info is None:
            raise SSLError(SSL_ERROR_SSL, "the handshake has not been done yet")
        n = len
        if buffer is not None:
            view = memoryview(buffer).cast("B")
            if n <= 0 or n > view.nbytes:
                n = view.nbytes
        if n <= 0:
            return 0 if buffer is not None else b""
        try:
            data = _net.recv(self._handle(), min(n, 2**32 - 1), self._timeout_ms())
        except _Err as e:
            raise _tls_error(e.value) from None
        if buffer is not None:
            view[:builtins_len(data)] = data
            return builtins_len(data)
        return data

    def write(self, data):
        if self._info is None:
            raise SSLError(SSL_ERROR_SSL, "the handshake has not been done yet")
        h = self._handle()
        with memoryview(data) as view, view.cast("B") as b:
            sent, total = 0, b.nbytes
            while sent < total:
                try:
                    sent += _net.send(h, bytes(b[sent:sent + _sock._MAX_SEND]),
                                      self._timeout_ms())
                except _Err as e:
                    if e.value.kind == "would-block":
                        if sent:
                            return sent
                        raise SSLWantWriteError(SSL_ERROR_WANT_WRITE,
                                                "The operation did not complete (write)") \
                            from None
                    if e.value.kind == "closed":
                        raise _sock._exception_for(e.value, "send") from None
                    raise _tls_error(e.value) from None
            return total

    def pending(self):
        return 0

    def getpeercert(self, binary_form=False):
        if self._info is None:
            raise ValueError("handshake not done yet")
        if binary_form:
            return bytes(self._info.peer_cert_der)
        if self._context.verify_mode == CERT_NONE:
            return {}
        try:
            return _tupled(_json.loads(self._info.peer_cert_json or "{}"))
        except ValueError:
            return {}

    def get_verified_chain(self):
        return [Certificate(bytes(self._info.peer_cert_der))] if self._info else []

    get_unverified_chain = get_verified_chain

    def version(self):
        return self._info.version if self._info else None

    def cipher(self):
        if self._info is None:
            return None
        name = self._info.cipher
        bits = 256 if ("256" in name or "CHACHA20" in name) else 128
        return (name, self._info.version, bits)

    def shared_ciphers(self):
        c = self.cipher()
        return [c] if c else None

    def compression(self):
        return None

    def selected_alpn_protocol(self):
        return (self._info.alpn or None) if self._info else None

    def selected_npn_protocol(self):
        return None

    def get_channel_binding(self, cb_type="tls-unique"):
        return None

    def verify_client_post_handshake(self):
        raise SSLError(SSL_ERROR_SSL, "post-handshake authentication is not available")

    def shutdown(self):
        raise SSLError(SSL_ERROR_SSL,
                       "unwrapping TLS is not available in the sandbox: close the socket")


builtins_len = len
