"""Cancellation: handles, asyncio, other threads and Ctrl-C."""
import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import eryx


def test_execute_async_handle_cancel():
    sb = eryx.Sandbox()
    h = sb.execute_async("print('working')\nwhile True: pass")
    time.sleep(0.3)
    assert not h.done()
    t = time.monotonic()
    assert h.cancel() is True
    with pytest.raises(eryx.CancelledError) as e:
        h.result(timeout=10)
    assert time.monotonic() - t < 2
    assert e.value.result.stdout_text == "working\n"
    assert sb.execute("result = 'again'").result == "again"


def test_execute_async_is_awaitable_and_cancelled_with_its_task():
    sb = eryx.Sandbox()

    async def main():
        ok = await sb.execute_async("result = 6 * 7")
        task = asyncio.ensure_future(sb.execute_async("while True: pass"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return ok.result

    assert asyncio.run(main()) == 42
    assert sb.execute("result = 1").result == 1


def test_cancel_from_another_thread_while_waiting_on_a_callback():
    started = threading.Event()

    def wait_forever():
        started.set()
        time.sleep(3)

    sb = eryx.Sandbox(callbacks=[{"name": "wait", "fn": wait_forever}])
    threading.Thread(target=lambda: (started.wait(), time.sleep(0.1), sb.cancel())).start()
    t = time.monotonic()
    with pytest.raises(eryx.CancelledError):
        sb.execute("await wait()")
    assert time.monotonic() - t < 2


def test_ctrl_c_cancels_the_running_execution(tmp_path):
    code = ("import eryx, time, sys\n"
            "sb = eryx.Sandbox()\n"
            "print('ready', flush=True)\n"
            "t = time.monotonic()\n"
            "try:\n"
            "    sb.execute('while True: pass')\n"
            "except KeyboardInterrupt:\n"
            "    print('interrupted', round(time.monotonic() - t), flush=True)\n"
            "print(sb.execute('result = 5').result, flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    lines = out.split()
    assert lines[0] == "interrupted" and int(lines[1]) < 5  # not the 30 s timeout
    assert lines[-1] == "5"


def test_cancel_right_after_start_is_not_lost():
    sb = eryx.Sandbox()
    for _ in range(20):
        h = sb.execute_async("while True: pass")
        assert h.cancel() is True
        with pytest.raises(eryx.CancelledError):
            h.result(timeout=10)
