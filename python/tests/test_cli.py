"""The `eryx` command of the Python package, through a subprocess: `python
-m eryx` and the console script pip installs."""

import http.server
import json
import os
import pty
import select
import subprocess
import sys
import threading
import time

import pytest

import eryx

SCRIPT = os.path.join(os.path.dirname(sys.executable), "eryx")


def run(*args, stdin=b"", timeout=120, cmd=None):
    cmd = cmd or [sys.executable, "-m", "eryx"]
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, timeout=timeout)


def test_console_script_and_version():
    assert os.access(SCRIPT, os.X_OK), "pip did not install the eryx console script"
    p = run("--version", cmd=[SCRIPT])
    assert p.returncode == 0 and p.stdout.decode().strip() == f"eryx {eryx.__version__}"
    p = run("-c", "print(6 * 7)", cmd=[SCRIPT])
    assert p.returncode == 0 and p.stdout == b"42\n", p.stderr


def test_file_with_arguments_in_sys_argv(tmp_path):
    f = tmp_path / "prog.py"
    f.write_text("import sys\nprint(sys.argv)\n")
    p = run(str(f), "a", "--timeout", "x y")
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().strip() == repr([str(f), "a", "--timeout", "x y"])


def test_the_c_clis_run_and_repl_words(tmp_path):
    """`eryx run FILE` and `eryx repl`, as the C CLI's (cli/main.c)."""
    f = tmp_path / "prog.py"
    f.write_text("import sys\nprint(sys.argv)\n")
    p = run("--timeout", "5000", "run", str(f), "x")
    assert p.returncode == 0 and p.stdout.decode().strip() == repr([str(f), "x"]), p.stderr
    p = run("run")
    assert p.returncode == 2 and b"run needs a FILE" in p.stderr
    # Piped into, the REPL prints no prompts, echoes values, and runs a
    # block the input ended inside.
    p = run("repl", stdin=b"x = 2\nx * 21\nfor i in range(2):\n    print('loop', i * x)\n")
    assert p.returncode == 0 and p.stdout == b"42\nloop 0\nloop 2\n", (p.stdout, p.stderr)
    p = run("repl", "--max-memory", "64M", stdin=b"len(bytearray(100 * 2**20))\n")
    assert p.returncode == 0 and b"MemoryError" in p.stderr, p.stderr
    p = run("repl", "script.py")
    assert p.returncode == 2 and b"sandbox options only" in p.stderr, p.stderr
    p = run("--json", "repl")
    assert p.returncode == 2 and b"for a script" in p.stderr


def test_runtime_dir_that_cannot_load(tmp_path):
    missing = tmp_path / "no-such-runtime"
    p = run("--runtime", str(missing), "-c", "print(1)")
    assert p.returncode == 4 and p.stdout == b"" and str(missing).encode() in p.stderr, p.stderr


def test_stdin_dash_and_piped(tmp_path):
    p = run("-", "one", stdin=b"import sys\nprint(sys.argv)\n")
    assert p.returncode == 0 and p.stdout == b"['-', 'one']\n", p.stderr
    p = run(stdin=b"print('piped')\n")
    assert p.returncode == 0 and p.stdout == b"piped\n"
    p = run("-c", "import sys; print(sys.argv)", "x")
    assert p.stdout == b"['-c', 'x']\n"


def test_exit_codes():
    assert run("-c", "pass").returncode == 0
    p = run("-c", "1/0")
    assert p.returncode == 1 and b"ZeroDivisionError" in p.stderr
    assert run("-c", "def f(:").returncode == 1
    assert run("-c", "import sys; sys.exit(7)").returncode == 7
    assert run("-c", "raise SystemExit('bye')").returncode == 1
    p = run("--timeout", "300", "-c", "while True: pass")
    assert p.returncode == 3 and b"TimeoutError" in p.stderr, p.stderr
    p = run("--max-memory", "40M", "-c", "x = bytearray(200 * 1024 * 1024)")
    assert p.returncode == 3 and b"MemoryError" in p.stderr, p.stderr
    p = run("/nonexistent/prog.py")
    assert p.returncode == 2 and b"/nonexistent/prog.py" in p.stderr


@pytest.mark.parametrize("flag,value", [("--timeout", "-5"), ("--timeout", "0"),
                                        ("--timeout", "99999999999999999999"),
                                        ("--timeout", "abc"), ("--max-memory", "-1"),
                                        ("--max-memory", "1K"), ("--max-memory", "lots"),
                                        ("--max-memory", "99999G"), ("-v", "nocolon"),
                                        ("-v", "a:b:maybe")])
def test_bad_values_are_usage_errors(flag, value):
    p = run(flag, value, "-c", "pass")
    assert p.returncode == 2 and flag in p.stderr.decode(), p.stderr
    assert b"eryx:" in p.stderr


def test_bytes_pass_through_and_json():
    code = "import sys, os\nprint('t')\nsys.stdout.buffer.write(b'\\xff\\x00')\n"
    p = run("-c", code)
    assert p.returncode == 0 and p.stdout == b"t\n\xff\x00"
    p = run("--json", "-c", code + "result = [1, 2]\n")
    assert p.returncode == 0, p.stderr
    o = json.loads(p.stdout)
    assert o["status"] == "ok" and o["result"] == [1, 2] and o["error"] is None
    assert o["stdout"] == "t\n\ufffd\x00"
    import base64
    assert base64.b64decode(o["stdout_base64"]) == b"t\n\xff\x00"
    p = run("--json", "-c", "1/0")
    o = json.loads(p.stdout)
    assert p.returncode == 1 and o["status"] == "exception"
    assert o["error"]["type"] == "ZeroDivisionError"


def test_volumes(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.txt").write_text("from the host")
    (tmp_path / "out").mkdir()
    p = run("-v", f"{tmp_path / 'in'}:/input:ro", "-c", "print(open('/input/data.txt').read())")
    assert p.returncode == 0 and p.stdout == b"from the host\n", p.stderr
    p = run("-v", f"{tmp_path / 'in'}:/input:ro", "-c", "open('/input/new', 'w')")
    assert p.returncode == 1 and not (tmp_path / "in" / "new").exists()
    p = run("-v", f"{tmp_path / 'out'}:/output:rw", "-c",
            "open('/output/r.txt', 'w').write('written')")
    assert p.returncode == 0 and (tmp_path / "out" / "r.txt").read_text() == "written"


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello over loopback"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_network_flags():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        code = (f"import urllib.request\n"
                f"print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode())")
        p = run("-c", code)  # networking is off by default
        assert p.returncode == 1
        p = run("--net", "-c", code)  # public hosts only: loopback is refused
        assert p.returncode == 1
        p = run("--allow-host", f"127.0.0.1:{port}", "-c", code)
        assert p.returncode == 0 and p.stdout == b"hello over loopback\n", p.stderr
    finally:
        server.shutdown()


def _read_until(fd, marker: bytes, timeout=60.0) -> bytes:
    out = b""
    end = time.monotonic() + timeout
    while marker not in out:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"never saw {marker!r} in {out!r} (cwd {os.getcwd()})")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


# read, poll, select, pselect6, ppoll on x86_64 and read, pselect6, ppoll
# on aarch64: the calls a line editor waits for a key in.
_WAITING_FOR_INPUT = {"x86_64": {0, 7, 23, 270, 271}, "aarch64": {63, 72, 73}}


def _wait_until_blocked(pid: int, timeout=60.0) -> None:
    """Waits until the process's main thread sleeps in the system call it
    reads its terminal with, so that a signal sent now interrupts it."""
    calls = _WAITING_FOR_INPUT.get(os.uname().machine)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(f"/proc/{pid}/syscall") as f:
            nr = f.read().split()[0]
        if nr.isdigit() and (calls is None or int(nr) in calls):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never waited for input")


# Opens its terminal by name, so that (as a new session's leader) it gets
# it as its controlling terminal (Ctrl-C then makes a SIGINT), then runs
# the REPL. pty.fork() would fork this multi-threaded process instead.
_IN_TERMINAL = ("import os, sys\n"
                "os.close(os.open(os.ttyname(0), os.O_RDWR))\n"
                "os.execv(sys.executable, [sys.executable, '-m', 'eryx'] + sys.argv[1:])\n")


class _Terminal:
    def __init__(self, *args):
        self.fd, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-c", _IN_TERMINAL, *args], stdin=slave,
                                     stdout=slave, stderr=slave, start_new_session=True,
                                     close_fds=True, cwd="/")
        os.close(slave)

    def wait(self, timeout=60):
        return self.proc.wait(timeout)


def test_repl_in_a_terminal():
    term = _Terminal()
    fd = term.fd
    try:
        assert b">>> " in _read_until(fd, b">>> ")
        os.write(fd, b"x = 6 * 7\r")
        _read_until(fd, b">>> ")
        os.write(fd, b"x\r")
        assert b"42" in _read_until(fd, b">>> ")
        os.write(fd, b"(1,\r")  # an open bracket waits for more
        _read_until(fd, b"... ")
        os.write(fd, b"]\r")
        out = _read_until(fd, b">>> ")
        assert b"SyntaxError" in out  # reported, not stuck in '...'
        os.write(fd, b"for i in range(2):\r")
        _read_until(fd, b"... ")
        os.write(fd, b"    print('loop', i)\r\r")
        out = _read_until(fd, b">>> ")
        assert b"loop 0" in out and b"loop 1" in out
        # Ctrl-C clears the line. It is pressed, as a person would, once
        # the REPL shows what was typed and waits for more: CPython's
        # readline module checks for signals only when its select() is
        # interrupted, so a SIGINT landing between the prompt and that
        # select() waits for the next key (a race in CPython, not here).
        os.write(fd, b"unfinished = (")
        _read_until(fd, b"unfinished = (")
        _wait_until_blocked(term.proc.pid)
        os.write(fd, b"\x03")
        out = _read_until(fd, b">>> ")
        assert b"KeyboardInterrupt" in out
        os.write(fd, b"unfinished\r")  # the cleared line was not kept
        assert b"NameError" in _read_until(fd, b">>> ")
        os.write(fd, b"exit()\r")
        assert term.wait() == 0
    finally:
        os.close(fd)
        if term.proc.poll() is None:
            term.proc.kill()


def test_repl_ctrl_d_exits():
    term = _Terminal()
    try:
        _read_until(term.fd, b">>> ")
        os.write(term.fd, b"\x04")
        assert term.wait() == 0
    finally:
        os.close(term.fd)
        if term.proc.poll() is None:
            term.proc.kill()


def test_terminal_escapes_are_shown_not_obeyed():
    code = "print('\\x1b[2J\\x1b]0;owned\\x07\\x1b[31mred')"
    for args, want in ((("-c", code), b"^[[2J^[]0;owned^G^[[31mred"),
                       (("--raw-output", "-c", code), b"\x1b[2J\x1b]0;owned\x07\x1b[31mred")):
        term = _Terminal(*args)
        try:
            out = _read_until(term.fd, want, timeout=60)
            assert term.wait() == 0
            if "--raw-output" not in args:
                assert b"\x1b" not in out
        finally:
            os.close(term.fd)
    p = run("-c", code)  # not a terminal: the bytes as they are
    assert p.stdout == b"\x1b[2J\x1b]0;owned\x07\x1b[31mred\n"
