#!/usr/bin/env python3
"""The C REPL driven in a pseudo-terminal, as a person would use it: line
editing, history, Ctrl-C, Ctrl-D, exit(), completion, incomplete input.

usage: repl_pty.py PATH/TO/eryx
"""

import os
import pty
import select
import sys
import time

ERYX = sys.argv[1]
failed = 0


def check(name, ok, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else f"\n  {detail!r}"),
          file=sys.stderr)
    failed += not ok


class Repl:
    def __init__(self, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"
            os.environ.pop("ERYX_MAX_SANDBOXES", None)
            os.execv(ERYX, [ERYX, *(args or ("repl",))])
        self.seen = b""

    def read_until(self, marker: bytes, timeout=60.0) -> bytes:
        """Output up to and including the next `marker` (b'' on timeout)."""
        end = time.monotonic() + timeout
        while marker not in self.seen:
            left = end - time.monotonic()
            if left <= 0:
                return b""
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.seen += chunk
        i = self.seen.find(marker)
        if i < 0:
            return b""
        out, self.seen = self.seen[:i + len(marker)], self.seen[i + len(marker):]
        return out

    def send(self, data: bytes):
        time.sleep(0.2)  # as a person types: after the editor took the terminal
        os.write(self.fd, data)

    def exit_status(self, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
            try:
                select.select([self.fd], [], [], 0.1)
                os.read(self.fd, 4096)
            except OSError:
                pass
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        return None


r = Repl()
check("a prompt on a terminal", r.read_until(b">>> ") != b"")
r.send(b"x = 6 * 7\r")
r.read_until(b">>> ")
r.send(b"x\r")
check("an expression is echoed", b"42" in r.read_until(b">>> "))
r.send(b"\x1b[A\r")  # up arrow: the last line again
out = r.read_until(b"42\r\n", timeout=20)
check("up arrow recalls history", out != b"", r.seen)
r.read_until(b">>> ")
r.send(b"(1,\r")
check("an open bracket asks for more", r.read_until(b"... ") != b"")
r.send(b"]\r")
out = r.read_until(b">>> ")
check("a syntax error inside a bracket is reported, not stuck in ...",
      b"SyntaxError" in out, out)
r.send(b"print((1,\x1b[D\x1b[C 2))\r")  # arrow keys inside a line edit it
out = r.read_until(b">>> ")
check("arrow keys move the cursor, not into the code", b"(1, 2)" in out, out)
r.send(b"for i in range(2):\r")
r.read_until(b"... ")
r.send(b"    print('loop', i)\r")
r.send(b"\r")
out = r.read_until(b"loop 1", timeout=20)
r.read_until(b">>> ")
check("a block runs after an empty line", b"loop 0" in out and b"loop 1" in out, out)
r.send(b"half = (1 +\r")
r.read_until(b"... ")
r.send(b"\x03")  # Ctrl-C at the prompt drops the input
out = r.read_until(b">>> ")
check("Ctrl-C clears the input", b"KeyboardInterrupt" in out, out)
r.send(b"print('half' in dir())\r")
out = r.read_until(b">>> ")
check("the dropped input never ran", b"False" in out, out)
r.send(b"my_long_variable = 5\r")
r.read_until(b">>> ")
r.send(b"my_lo\t\r")
out = r.read_until(b">>> ")
check("Tab completes a name of the session",
      b"ng_variable" in out and b"\n5\r\n" in out and b"Error" not in out, out)
r.send(b"import json\r")
r.read_until(b">>> ")
r.send(b"json.dum\t\r")
out = r.read_until(b">>> ")
check("Tab completes an attribute", b"<function dump" in out, out)
r.send(b"import time; time.sleep(30)\r")
time.sleep(1.0)
r.send(b"\x03")
out = r.read_until(b">>> ", timeout=20)
check("Ctrl-C stops running code", b"KeyboardInterrupt" in out, out)
r.send(b"exit()\r")
check("exit() leaves with status 0", r.exit_status() == 0)

r = Repl()
r.read_until(b">>> ")
r.send(b"\x04")
check("Ctrl-D leaves with status 0", r.exit_status() == 0)

r = Repl()
r.read_until(b">>> ")
r.send(b"import sys; sys.exit(5)\r")
check("sys.exit(5) leaves with status 5", r.exit_status() == 5)

# `eryx` with no script on a terminal is the REPL too, with the flags.
r = Repl("--max-memory", "64M")
ok = bool(r.read_until(b">>> "))
r.send(b"len(bytearray(100 * 2**20))\r")
out = r.read_until(b">>> ")
r.send(b"exit()\r")
check("plain eryx on a terminal is a REPL that takes the flags",
      ok and b"MemoryError" in out and r.exit_status() == 0, out)



def on_terminal(*args):
    """Output of `eryx ARGS...` with stdout and stderr on a terminal."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(ERYX, [ERYX, *args])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out


code = "import sys; print('\\x1b[2J\\x1b]0;owned\\x07\\x1b[31mred'); sys.stdout.write('\\u009b2J\\n')"
out = on_terminal("-c", code)
check("escape sequences are shown, not obeyed, on a terminal",
      b"\x1b" not in out and b"^[[2J^[]0;owned^G^[[31mred" in out and b"\\u009b2J" in out, out)
out = on_terminal("--raw-output", "-c", code)
check("--raw-output passes them through", b"\x1b[31mred" in out, out)

sys.exit(1 if failed else 0)
