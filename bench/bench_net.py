"""Networking through the host against the host's own CPython, in one run.

Loopback servers started here: an HTTP/1.1 keep-alive server and the same
over TLS (a CA and server certificate made with the openssl command). Each
case runs natively and in a sandbox; prints one JSON line per case with
both times and their ratio, then one line describing the machine.

    make bench-net        (or: python bench/bench_net.py, with eryx installed)
"""

import http.client
import http.server
import json
import os
import platform
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import eryx

GETS = 100
BIG = 64 * 1024 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle plus the
    # client's delayed ACK add 40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        n = BIG if self.path == "/big" else 2
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if n == 2:
            self.wfile.write(b"ok")
            return
        chunk = b"x" * (1 << 20)
        for _ in range(n >> 20):
            self.wfile.write(chunk)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def start(tls_ctx=None):
    s = Server(("127.0.0.1", 0), Handler)
    if tls_ctx is not None:
        s.socket = tls_ctx.wrap_socket(s.socket, server_side=True)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def make_certs(d):
    def run(*a):
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key",
        "-out", "ca.pem", "-subj", "/CN=bench CA", "-addext",
        "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "s.key", "-out", "s.csr",
        "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "s.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "s.pem", "-extfile", "ext")


# Each case: code that sets `result` to its own elapsed seconds (so that the
# sandbox's start-up is not counted), run natively with exec() and in a sandbox.
GETS_CODE = '''
import http.client, time
t0 = time.perf_counter()
c = http.client.HTTPConnection("localhost", PORT)
for _ in range(GETS):
    c.request("GET", "/")
    assert c.getresponse().read() == b"ok"
c.close()
result = time.perf_counter() - t0
'''

BIG_CODE = '''
import socket, time
t0 = time.perf_counter()
s = socket.create_connection(("localhost", PORT))
s.sendall(b"GET /big HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
n = 0
buf = bytearray(1 << 20)
while True:
    k = s.recv_into(buf)
    if not k:
        break
    n += k
s.close()
assert n > BIG
result = time.perf_counter() - t0
'''

TLS_CODE = '''
import socket, ssl, time
ctx = CTX
t0 = time.perf_counter()
s = ctx.wrap_socket(socket.create_connection(("localhost", PORT)), server_hostname="localhost")
v = s.version()
s.close()
result = time.perf_counter() - t0
'''


# The same after one handshake in the same sandbox (the host's OpenSSL pays
# for loading the system's roots on the first verification).
TLS_WARM_CODE = TLS_CODE.replace("t0 = time.perf_counter()", """ctx.wrap_socket(socket.create_connection(("localhost", PORT)), server_hostname="localhost").close()
t0 = time.perf_counter()""")


def native(code, ctx=None):
    ns = {"CTX": ctx}
    exec(code, ns)
    return ns["result"]


def sandboxed(code, net):
    sb = eryx.Sandbox(network=net,
                      resource_limits=eryx.ResourceLimits(execution_timeout_ms=120_000,
                                                          max_memory_bytes=512 << 20))
    return sb.execute(code).result


def best(f, n):
    return min(f() for _ in range(n))


def main():
    d = tempfile.mkdtemp()
    make_certs(d)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(os.path.join(d, "s.pem"), os.path.join(d, "s.key"))
    plain, tls = start(), start(sctx)
    ca = open(os.path.join(d, "ca.pem"), "rb").read()
    net = eryx.NetConfig(allowed_hosts=["localhost"]).allow_localhost().with_root_cert(ca)
    # As the host's: the system's roots plus the test CA.
    cctx = ssl.create_default_context()
    cctx.load_verify_locations(os.path.join(d, "ca.pem"))

    def sub(code, port):
        return code.replace("PORT", str(port)).replace("GETS", str(GETS)) \
            .replace("BIG", str(BIG))

    cases = [
        ("http_get_keepalive_x100", sub(GETS_CODE, plain.server_address[1]), 5, None),
        ("download_64MiB", sub(BIG_CODE, plain.server_address[1]), 3, None),
        ("https_handshake_first", sub(TLS_CODE, tls.server_address[1]), 10, cctx),
        ("https_handshake_second", sub(TLS_WARM_CODE, tls.server_address[1]), 10, cctx),
    ]
    for name, code, reps, ctx in cases:
        nat = best(lambda: native(code, ctx), reps)
        sand = best(lambda: sandboxed(code.replace("CTX", "ssl.create_default_context()"),
                                      net), reps)
        line = {"bench": name, "native_s": round(nat, 6), "sandbox_s": round(sand, 6),
                "ratio": round(sand / nat, 2)}
        if name.startswith("download"):
            line["sandbox_MBps"] = round(BIG / sand / 1e6, 1)
            line["native_MBps"] = round(BIG / nat / 1e6, 1)
        print(json.dumps(line), flush=True)
    print(json.dumps({"machine": platform.machine(), "cpus": os.cpu_count(),
                      "python": sys.version.split()[0], "platform": platform.platform(),
                      "note": "best of N runs; loopback servers in this process"}))


if __name__ == "__main__":
    main()
