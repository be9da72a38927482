"""Secrets: the code sees a placeholder in os.environ, never the value; the
host scrubs values and placeholders from what leaves the sandbox. A value
reaches the guest only from outside: a callback that hands it in, or a
loopback HTTP server (started here) that records what it receives and
echoes the Authorization header back in its body."""

import http.server
import re
import threading

import pytest

import eryx

VALUE = "tok-5f3a9c1e77d2b0aa"


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append(self.requestline + "\r\n" + str(self.headers))
        body = ("auth=" + (self.headers.get("Authorization") or "")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    s.seen = []
    threading.Thread(target=s.serve_forever, daemon=True).start()
    yield s
    s.shutdown()
    s.server_close()


def _secrets(port=1):
    return {"API_TOKEN": {"value": VALUE, "allowed_hosts": [f"127.0.0.1:{port}"]},
            "OTHER": {"value": "other-value-123", "allowed_hosts": []}}


def _leak(**_):
    return VALUE


def _clean(text):
    assert VALUE not in text
    assert "ERYX_SECRET_" not in text


def test_bad_secrets_are_refused_naming_them():
    for secrets, needle in (({"1X": {"value": "v"}}, "'1X'"),
                            ({"EMPTY": {"value": ""}}, "secret 'EMPTY'"),
                            ({"H": {"value": "v", "allowed_hosts": ["bad host!"]}},
                             "secret 'H'")):
        with pytest.raises(eryx.EryxError, match=re.escape(needle)):
            eryx.Sandbox(secrets=secrets)
    with pytest.raises(TypeError):
        eryx.Sandbox(secrets={"X": {"value": 1}})
    with pytest.raises(TypeError):
        eryx.Sandbox(secrets={"X": {"value": "v", "allowed_hosts": "a.com"}})


def test_environ_holds_a_fresh_placeholder():
    sb = eryx.Sandbox(secrets=_secrets(), scrub_result=False)
    code = "import os\nresult = os.environ['API_TOKEN']"
    a, b = sb.execute(code).result, sb.execute(code).result
    assert re.fullmatch(r"ERYX_SECRET_[0-9a-f]{32}", a)
    assert a != b
    s = eryx.Session(secrets=_secrets(), scrub_result=False)
    s.execute("import os\nfirst = os.environ['API_TOKEN']")
    assert s.execute("result = first != os.environ['API_TOKEN']").result is True


def test_printing_the_placeholder_shows_nothing_secret():
    streamed = []
    sb = eryx.Sandbox(secrets=_secrets(), on_stdout=streamed.append)
    r = sb.execute("import os, sys, base64\np = os.environ['API_TOKEN']\nprint(p)\n"
                   "for c in p:\n    sys.stdout.write(c); sys.stdout.flush()\nprint()\n"
                   "print(base64.b64encode(p.encode()).decode(), p.encode().hex())\n"
                   "result = p")
    _clean(r.stdout_text)
    _clean(b"".join(streamed).decode())
    assert r.stdout_text.startswith("[REDACTED]\n[REDACTED]\n")
    assert r.result == "[REDACTED]"


def test_an_echoed_value_is_scrubbed_everywhere():
    store = eryx.VfsStorage()
    got = []
    streamed = []
    sb = eryx.Sandbox(secrets=_secrets(), vfs=store, on_stdout=streamed.append,
                      callbacks=[{"name": "leak", "fn": _leak},
                                 {"name": "seen", "fn": lambda **kw: got.append(kw)}])
    r = sb.execute("import sys\nv = await leak()\nprint('got', v)\n"
                   "sys.stdout.write(v[:6]); sys.stdout.flush(); print(v[6:])\n"
                   "await seen(x=v)\n"
                   "with open('/data/f.txt', 'w') as f:\n"
                   "    f.write(v[:3]); f.flush(); f.write(v[3:])\n"
                   "result = {'v': v}")
    _clean(r.stdout_text)
    _clean(b"".join(streamed).decode())
    assert "got [REDACTED]\n[REDACTED]\n" in r.stdout_text
    assert r.result == {"v": "[REDACTED]"}
    assert got == [{"x": "[REDACTED]"}]
    assert store.read_text("f.txt") == "[REDACTED]"
    with pytest.raises(eryx.ExecutionError) as ei:
        sb.execute("v = await leak()\nraise ValueError('token ' + v)")
    _clean(ei.value.traceback)
    _clean(str(ei.value))
    assert "token [REDACTED]" in ei.value.traceback


def test_scrub_switches_off():
    sb = eryx.Sandbox(secrets=_secrets(), scrub_stdout=False, scrub_result=False,
                      callbacks=[{"name": "leak", "fn": _leak}])
    r = sb.execute("v = await leak()\nprint(v)\nresult = v")
    assert VALUE in r.stdout_text and r.result == VALUE


def test_snapshot_never_holds_the_value():
    s = eryx.Session(secrets=_secrets(), callbacks=[{"name": "leak", "fn": _leak}])
    s.execute("v = await leak()\nkeep = 1")
    with pytest.raises(eryx.EryxError, match="API_TOKEN"):
        s.snapshot_state()
    s.execute("del v")
    assert VALUE.encode() not in s.snapshot_state()


def test_value_reaches_the_allowed_host_only(server):
    port = server.server_address[1]
    net = eryx.NetConfig(allowed_hosts=["127.0.0.1", "localhost"]).allow_localhost()
    sb = eryx.Sandbox(secrets=_secrets(port), network=net)
    r = sb.execute(f"""
import os, urllib.request
def get(host, name):
    q = urllib.request.Request(f'http://{{host}}:{port}/p?q=' + os.environ[name],
                               headers={{'Authorization': 'Bearer ' + os.environ[name]}})
    return urllib.request.urlopen(q, timeout=10).read().decode()
a = get('127.0.0.1', 'API_TOKEN')
print(a)
b = get('localhost', 'API_TOKEN')
result = a
""")
    _clean(r.stdout_text)
    assert r.result == "auth=Bearer [REDACTED]"
    seen = "\n".join(server.seen)
    assert f"Authorization: Bearer {VALUE}" in seen.split("Host: localhost")[0]
    assert seen.count(VALUE) == 1  # not at localhost, not in the URL
    assert "other-value-123" not in seen
