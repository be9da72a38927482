"""Real processes for the `eryx serve --http` tests and benchmark: a
redis-server on a loopback port and `python -m eryx serve --http` copies.

Design: nothing is mocked. Each helper starts a process on a free loopback
port, waits until it answers (or fails naming its stderr), and stops it by
its own pid. Used by python/tests/test_serve*.py and bench/bench_serve.py.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.proc = None

    def start(self):
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server; "
                               ".ci/run installs it)")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        code = self.proc.poll()
        self.stop()  # a server that did not answer is not left running
        raise RuntimeError(f"redis-server on port {self.port} did not start"
                           + (f" (it exited {code})" if code is not None else ""))

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Server:
    """One `python -m eryx serve --http` copy."""

    def __init__(self, *args, env=None, port=None):
        self.port = port or free_port()
        self.args = list(args)
        self.env = env
        self.proc = None
        self.log = tempfile.TemporaryFile()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=60):
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen([sys.executable, "-m", "eryx", "serve", "--http",
                                      f"127.0.0.1:{self.port}", *self.args],
                                     stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"eryx serve exited {self.proc.returncode}: "
                                   f"{self.output()}")
            try:
                with urllib.request.urlopen(self.base + "/v1/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()  # not left running behind the failure
        raise RuntimeError(f"eryx serve did not answer in {timeout} s: {self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def call(base, method, path, body=None, token=None, raw=None, headers=None, timeout=60):
    """(status, parsed JSON or bytes) of one request."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, content, ctype = r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, content, ctype = e.code, e.read(), e.headers.get("content-type", "")
    if "json" in ctype:
        return status, json.loads(content)
    return status, content


def post_expecting_continue(base, path, nbytes, token=None, timeout=30):
    """POSTs headers announcing an `nbytes` body with `Expect: 100-continue`
    (what curl does for large bodies) and sends the body only if the server
    says 100 Continue: (status, parsed JSON) of the final answer."""
    host, port = base.replace("http://", "").split(":")
    with socket.create_connection((host, int(port)), timeout) as s:
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {nbytes}\r\nExpect: 100-continue\r\nConnection: close\r\n")
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        s.sendall((head + "\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        if data.startswith(b"HTTP/1.1 100"):
            s.sendall(b"#" * nbytes)
            data = data.split(b"\r\n\r\n", 1)[1]
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body
