"""Networking: sandboxed socket / ssl / http.client / urllib / asyncio through
the host, against servers on loopback that these tests start themselves
(the policy allows them explicitly)."""

import http.server
import json
import os
import socket
import socketserver
import ssl
import subprocess
import threading
import time

import pytest

import eryx


# ---- servers -------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(0.1)
            self._reply(b"slow")
        elif self.path.startswith("/big/"):
            n = int(self.path[5:])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n:
                k = min(n, len(chunk))
                self.wfile.write(chunk[:k])
                n -= k
        else:
            self._reply(b"hello " + self.path.encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._reply(json.dumps({"got": body.decode()}).encode(), "application/json")


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 20 connects at once must not overflow the backlog


def _serve(server):
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server


@pytest.fixture(scope="module")
def http_server():
    s = _serve(_HTTPServer(("127.0.0.1", 0), _Handler))
    yield s
    s.shutdown()
    s.server_close()


def _accepted_reaches(server, n, within=5.0):
    """The server's handler threads count connections after the kernel has
    accepted them, so the count can lag the sandbox's return a little."""
    deadline = time.monotonic() + within
    while server.accepted < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.accepted == n


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        with self.server.lock:
            self.server.accepted += 1
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    accepted = 0
    lock = threading.Lock()


@pytest.fixture(scope="module")
def echo_server():
    s = _serve(_EchoServer(("127.0.0.1", 0), _Echo))
    yield s
    s.shutdown()
    s.server_close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA and a server certificate (localhost, 127.0.0.1) made with the
    openssl command, plus a second CA nobody trusts."""
    d = tmp_path_factory.mktemp("certs")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    for ca in ("ca", "other"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-subj", f"/CN=Eryx test {ca}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
        "server.csr", "-subj", "/CN=localhost")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                               "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "ext.cnf")
    return d


@pytest.fixture(scope="module")
def tls_server(certs):
    s = _HTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    ctx.set_alpn_protocols(["http/1.1"])
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    _serve(s)
    yield s
    s.shutdown()
    s.server_close()


def _port(server):
    return server.server_address[1]


def _local():
    return eryx.NetConfig(allowed_hosts=["localhost", "127.0.0.1"]).allow_localhost()


def run(code, network=None, **kw):
    kw.setdefault("resource_limits", eryx.ResourceLimits(execution_timeout_ms=20_000))
    return eryx.Sandbox(network=network, **kw).execute(code)


# ---- off by default ---------------------------------------------------------

OFF_PATHS = r'''
import socket, ssl, http.client, urllib.request, asyncio
out = {}
def attempt(name, f):
    try:
        f()
        out[name] = "ok"
    except BaseException as e:
        out[name] = type(e).__name__ + ": " + str(e)
attempt("socket", lambda: socket.socket().connect(("127.0.0.1", PORT)))
attempt("create_connection", lambda: socket.create_connection(("localhost", PORT)))
attempt("http.client", lambda: http.client.HTTPConnection("127.0.0.1", PORT).request("GET", "/"))
attempt("urllib", lambda: urllib.request.urlopen("http://127.0.0.1:%d/" % PORT))
attempt("https", lambda: urllib.request.urlopen("https://localhost:%d/" % PORT))
attempt("asyncio", lambda: asyncio.run(asyncio.open_connection("127.0.0.1", PORT)))
result = out
'''


def test_off_every_socket_path_fails(echo_server):
    before = echo_server.accepted
    r = run(OFF_PATHS.replace("PORT", str(_port(echo_server))))
    assert set(r.result) == {"socket", "create_connection", "http.client", "urllib",
                             "https", "asyncio"}
    for name, outcome in r.result.items():
        assert outcome != "ok" and "off" in outcome, (name, outcome)
    assert echo_server.accepted == before
    assert r.net_connections == 0


def test_cpython_builtin_socket_has_no_network(echo_server):
    """The stdlib's own _socket, got at by every route the guest has: the
    WASI context grants no network, so it cannot connect or resolve."""
    before = echo_server.accepted
    r = run(r'''
import sys, importlib
out = []
def attempt(f):
    try:
        f()
        out.append("ok")
    except BaseException as e:
        out.append(type(e).__name__)
for name in ("_socket", "socket", "ssl", "_ssl"):
    sys.modules.pop(name, None)
import _socket
out.append(_socket.__name__ + ":" + str(getattr(_socket, "__file__", "built-in")))
attempt(lambda: _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM).connect(("127.0.0.1", PORT)))
attempt(lambda: _socket.getaddrinfo("localhost", PORT))
attempt(lambda: _socket.gethostbyname("localhost"))
import socket
attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2))
try:
    import ssl
    out.append("ssl imported")
except ImportError:
    out.append("no ssl")
result = out
'''.replace("PORT", str(_port(echo_server))), network=_local())
    assert r.result[0].startswith("_socket:"), r.result
    assert "ok" not in r.result[1:], r.result
    assert echo_server.accepted == before


def test_netconfig_api():
    c = eryx.NetConfig()
    assert c.allowed_hosts == [] and c.blocked_hosts == [] and not c.allow_all_hosts
    assert (c.max_connections, c.connect_timeout_ms, c.io_timeout_ms) == (10, 30_000, 60_000)
    assert c.allow_host("a.example.com").block_host("*.bad.example") is c
    assert c.allowed_hosts == ["a.example.com"] and c.blocked_hosts == ["*.bad.example"]
    assert c.allow_localhost().with_root_cert(b"\x30\x03") is c
    p = eryx.NetConfig.permissive()
    assert p.allow_all_hosts and p.localhost_allowed
    with pytest.raises(ValueError):
        eryx.NetConfig().allow_host("")
    with pytest.raises(TypeError):
        eryx.NetConfig(allowed_hosts="example.com")
    with pytest.raises(ValueError):
        eryx.NetConfig(max_connections=0)._native()
    with pytest.raises(TypeError):
        eryx.Sandbox(network={"allowed_hosts": []})


# ---- through the host ---------------------------------------------------------

def test_tcp_echo_and_stats(echo_server):
    port = _port(echo_server)
    r = run(f'''
import socket
s = socket.create_connection(("localhost", {port}), timeout=5)
s.sendall(b"ping" * 1000)
got = b""
while len(got) < 4000:
    got += s.recv(65536)
s.shutdown(socket.SHUT_WR)
rest = s.recv(10)
peer = s.getpeername()
s.close()
result = [got == b"ping" * 1000, rest.decode(), peer[0], peer[1]]
''', network=_local())
    assert r.result == [True, "", "127.0.0.1", port] or r.result[:2] == [True, ""]
    assert r.net_connections == 1
    assert r.net_bytes_sent == 4000 and r.net_bytes_received == 4000


def test_http_get_and_post(http_server):
    port = _port(http_server)
    r = run(f'''
import http.client, urllib.request, json
c = http.client.HTTPConnection("localhost", {port}, timeout=5)
c.request("GET", "/a")
a = c.getresponse().read().decode()
c.request("POST", "/p", body=b"data=1", headers={{"Content-Type": "text/plain"}})
p = json.loads(c.getresponse().read())
c.close()
u = urllib.request.urlopen("http://localhost:{port}/u", timeout=5).read().decode()
req = urllib.request.Request("http://127.0.0.1:{port}/p", data=b"x=2", method="POST")
up = json.loads(urllib.request.urlopen(req, timeout=5).read())
result = [a, p, u, up]
''', network=_local())
    assert r.result == ["hello /a", {"got": "data=1"}, "hello /u", {"got": "x=2"}]
    assert r.net_connections == 3


def test_https_with_root_cert(tls_server, certs):
    port = _port(tls_server)
    net = _local().with_root_cert((certs / "ca.pem").read_bytes())
    r = run(f'''
import http.client, ssl, urllib.request, socket
ctx = ssl.create_default_context()
c = http.client.HTTPSConnection("localhost", {port}, timeout=5)  # offers ALPN http/1.1
c.request("GET", "/secure")
body = c.getresponse().read().decode()
s = c.sock
info = [s.version(), s.selected_alpn_protocol(), s.getpeercert()["subject"],
        len(s.getpeercert(binary_form=True)) > 100, s.cipher()[0] != ""]
c.close()
u = urllib.request.urlopen("https://localhost:{port}/u", timeout=5).read().decode()
raw = ctx.wrap_socket(socket.create_connection(("127.0.0.1", {port})), server_hostname="localhost")
raw.sendall(b"GET /raw HTTP/1.0\\r\\n\\r\\n")
data = b""
while True:
    chunk = raw.recv(4096)
    if not chunk:
        break
    data += chunk
raw.close()
result = [body, info, u, data.endswith(b"hello /raw")]
''', network=net)
    body, info, u, raw = r.result
    assert body == "hello /secure" and u == "hello /u" and raw
    assert info[0] in ("TLSv1.2", "TLSv1.3") and info[1] == "http/1.1"
    assert info[2] == [[["commonName", "localhost"]]] and info[3] and info[4]


def test_der_root_cert(tls_server, certs):
    der = ssl.PEM_cert_to_DER_cert((certs / "ca.pem").read_text())
    r = run(f'''
import urllib.request
result = urllib.request.urlopen("https://localhost:{_port(tls_server)}/d", timeout=5).read().decode()
''', network=_local().with_root_cert(der))
    assert r.result == "hello /d"


TLS_FAIL = r'''
import ssl, socket
try:
    s = socket.create_connection((HOST, PORT), timeout=5)
    ssl.create_default_context().wrap_socket(s, server_hostname=NAME)
    result = "ok"
except ssl.SSLCertVerificationError as e:
    result = ["SSLCertVerificationError", e.verify_message, str(e)]
except BaseException as e:
    result = [type(e).__name__, str(e)]
'''


def test_wrong_hostname_is_a_certificate_error(tls_server, certs):
    code = TLS_FAIL.replace("HOST", '"127.0.0.1"').replace("PORT", str(_port(tls_server))) \
        .replace("NAME", '"wrong.example"')
    r = run(code, network=_local().with_root_cert((certs / "ca.pem").read_bytes()))
    assert r.result[0] == "SSLCertVerificationError", r.result
    assert r.result[1]


def test_untrusted_ca_is_refused(tls_server, certs):
    code = TLS_FAIL.replace("HOST", '"localhost"').replace("PORT", str(_port(tls_server))) \
        .replace("NAME", '"localhost"')
    r = run(code, network=_local().with_root_cert((certs / "other.pem").read_bytes()))
    assert r.result[0] == "SSLCertVerificationError", r.result
    # Certificates loaded inside the sandbox do not change what the host trusts.
    # Turning verification off inside the sandbox does not turn it off.
    r = run(code.replace(
        "ssl.create_default_context()", "ssl._create_unverified_context()"),
        network=_local())
    assert r.result[0] == "SSLCertVerificationError", r.result


CONNECT = r'''
import socket
out = []
for host in HOSTS:
    try:
        socket.create_connection((host, PORT), timeout=3).close()
        out.append("ok")
    except BaseException as e:
        out.append(type(e).__name__ + ": " + str(e))
result = out
'''


def _connect(hosts, port, network):
    return run(CONNECT.replace("HOSTS", repr(hosts)).replace("PORT", str(port)),
               network=network).result


def test_blocked_pattern_beats_allow(echo_server):
    port, before = _port(echo_server), echo_server.accepted
    out = _connect(["localhost"], port, _local().block_host("localhost"))
    assert out[0].startswith("PermissionError") and "localhost" in out[0], out
    out = _connect(["localhost"], port, _local().block_host("*"))
    assert out[0].startswith("PermissionError"), out
    assert echo_server.accepted == before


def test_wildcards_and_ports(echo_server):
    port, before = _port(echo_server), echo_server.accepted
    # A literal IP pattern allows that (loopback) address, on its port only.
    assert _connect(["127.0.0.1"], port, eryx.NetConfig(allowed_hosts=[f"127.0.0.1:{port}"])) \
        == ["ok"]
    out = _connect(["127.0.0.1"], port, eryx.NetConfig(allowed_hosts=["127.0.0.1:1"]))
    assert out[0].startswith("PermissionError"), out
    # A wildcard allow that does not match; a wildcard block that does.
    out = _connect(["localhost", "127.0.0.1"], port,
                   eryx.NetConfig(allowed_hosts=["*.example.com"]))
    assert all(o.startswith("PermissionError") for o in out), out
    out = _connect(["localhost"], port, _local().block_host("*"))
    assert out[0].startswith("PermissionError"), out
    with pytest.raises(eryx.InvalidArgumentError, match="local"):
        eryx.Sandbox(network=eryx.NetConfig(blocked_hosts=["local*x"]))
    # allow_localhost lets localhost through, whatever the allow list says.
    assert _connect(["localhost"], port,
                    eryx.NetConfig(allowed_hosts=["*.example.com"]).allow_localhost()) \
        == ["ok"]
    assert _accepted_reaches(echo_server, before + 2), (echo_server.accepted, before)


def test_loopback_refused_by_default_in_every_spelling(echo_server):
    port, before = _port(echo_server), echo_server.accepted
    hosts = ["localhost", "127.0.0.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]",
             "::ffff:127.0.0.1", "127.1", "0177.0.0.1", "::1"]
    try:
        if socket.gethostbyname(socket.gethostname()).startswith("127."):
            hosts.append(socket.gethostname())   # a name that resolves to loopback
    except OSError:
        pass
    for net in (eryx.NetConfig(), eryx.NetConfig(allowed_hosts=["example.com"])):
        out = _connect(hosts, port, net)
        for host, o in zip(hosts, out):
            assert o != "ok", (host, o)
            assert o.split(":")[0] in ("PermissionError", "ConnectionRefusedError",
                                       "gaierror"), (host, o)
    assert echo_server.accepted == before


def test_connection_cap(echo_server):
    port = _port(echo_server)
    r = run(f'''
import socket
socks, err = [], None
try:
    for _ in range(5):
        socks.append(socket.create_connection(("localhost", {port}), timeout=5))
except OSError as e:
    err = type(e).__name__ + ": " + str(e)
n = len(socks)
socks.pop().close()
socks.append(socket.create_connection(("localhost", {port}), timeout=5))
result = [n, err]
''', network=eryx.NetConfig(allowed_hosts=["localhost"], max_connections=3)
        .allow_localhost())
    assert r.result[0] == 3 and r.result[1], r.result


def test_socket_timeout_and_nonblocking(echo_server):
    r = run(f'''
import socket
s = socket.create_connection(("localhost", {_port(echo_server)}))
s.settimeout(0.2)
out = []
try:
    s.recv(10)
except socket.timeout as e:
    out.append(type(e).__name__)
s.setblocking(False)
try:
    s.recv(10)
except BlockingIOError:
    out.append("BlockingIOError")
out.append(s.gettimeout())
result = out
''', network=_local())
    assert r.result == ["TimeoutError", "BlockingIOError", 0.0]


@pytest.fixture
def silent_server():
    """Accepts connections and never sends a byte."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    held = []

    def accept():
        while True:
            try:
                held.append(ls.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    yield ls.getsockname()[1]
    ls.close()
    for c in held:
        c.close()


def test_cancel_during_blocking_recv(silent_server):
    sb = eryx.Sandbox(network=_local(),
                      resource_limits=eryx.ResourceLimits(execution_timeout_ms=30_000))
    ex = sb.execute_async(f'''
import socket
s = socket.create_connection(("localhost", {silent_server}))
print("connected", flush=True)
s.recv(10)
''')
    time.sleep(1.0)
    t0 = time.monotonic()
    assert ex.cancel()
    with pytest.raises(eryx.CancelledError):
        ex.result(10)
    assert time.monotonic() - t0 < 1.0


def test_timeout_during_blocking_recv(silent_server):
    t0 = time.monotonic()
    with pytest.raises(eryx.TimeoutError):
        run(f'''
import socket
socket.create_connection(("localhost", {silent_server})).recv(10)
''', network=_local(), resource_limits=eryx.ResourceLimits(execution_timeout_ms=500))
    assert time.monotonic() - t0 < 3.0


def test_asyncio_gather_of_20_requests_runs_concurrently(http_server):
    port = _port(http_server)
    r = run(f'''
import asyncio, time
async def get(i):
    reader, writer = await asyncio.open_connection("localhost", {port})
    writer.write(b"GET /slow/%d HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n" % i)
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data.endswith(b"slow")
t0 = time.monotonic()
oks = await asyncio.gather(*(get(i) for i in range(20)))
result = [all(oks), time.monotonic() - t0]
''', network=eryx.NetConfig(allowed_hosts=["localhost"], max_connections=25)
        .allow_localhost())
    assert r.result[0] is True
    assert r.result[1] < 1.0, r.result  # 20 x 100 ms one after another would be 2 s


def test_asyncio_tls_and_start_tls(tls_server, certs):
    port = _port(tls_server)
    r = run(f'''
import asyncio, ssl
ctx = ssl.create_default_context()
async def main():
    reader, writer = await asyncio.open_connection("localhost", {port}, ssl=ctx)
    writer.write(b"GET /a HTTP/1.0\\r\\n\\r\\n")
    a = await reader.read()
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", {port})
    await writer.start_tls(ctx, server_hostname="localhost")
    writer.write(b"GET /b HTTP/1.0\\r\\n\\r\\n")
    b = await reader.read()
    v = writer.get_extra_info("ssl_object").version()
    writer.close()
    return [a.endswith(b"hello /a"), b.endswith(b"hello /b"), v]
result = await main()
''', network=_local().with_root_cert((certs / "ca.pem").read_bytes()))
    assert r.result[:2] == [True, True] and r.result[2].startswith("TLSv1.")


def test_asyncio_mixes_sockets_and_callbacks(http_server):
    reg = eryx.CallbackRegistry()

    @reg.callback
    async def later(x: int) -> int:
        """Answers after a while."""
        import asyncio
        await asyncio.sleep(0.2)
        return x + 1

    port = _port(http_server)
    r = run(f'''
import asyncio
async def get():
    reader, writer = await asyncio.open_connection("localhost", {port})
    writer.write(b"GET /slow HTTP/1.0\\r\\n\\r\\n")
    data = await reader.read()
    writer.close()
    return data.endswith(b"slow")
result = list(await asyncio.gather(later(x=1), get(), later(x=2)))
''', network=_local(), callbacks=reg)
    assert r.result == [2, True, 3]


def test_bypass_attempts_go_through_the_policy(echo_server):
    port, before = _port(echo_server), echo_server.accepted
    r = run(f'''
import importlib, sys, socket
out = []
def attempt(f):
    try:
        f()
        out.append("ok")
    except BaseException as e:
        out.append(type(e).__name__)
importlib.reload(socket)
attempt(lambda: socket.create_connection(("localhost", {port}), timeout=2))
from wit_world.imports import net
attempt(lambda: net.connect("localhost", {port}, None))
attempt(lambda: net.connect("\\x00" * 100000, 0, None))
attempt(lambda: net.recv(12345, 2**32 - 1, 0))
attempt(lambda: net.send(999, b"x", None))
attempt(lambda: net.start_tls(999, "x", ["a"] * 1000, None))
result = out
''', network=eryx.NetConfig(allowed_hosts=["example.com"]))
    assert "ok" not in r.result, r.result
    assert echo_server.accepted == before


def test_session_with_network(http_server):
    s = eryx.Session(network=_local())
    s.execute("import urllib.request")
    r = s.execute(f"result = urllib.request.urlopen('http://localhost:{_port(http_server)}/s')"
                  f".read().decode()")
    assert r.result == "hello /s"
