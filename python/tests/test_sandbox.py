"""Sandbox, ExecuteResult, ResourceLimits, output handlers and errors."""
import threading
import time

import pytest

import eryx


def test_execute_returns_output_result_and_statistics():
    r = eryx.Sandbox().execute("import math\nprint('pi', round(math.pi, 2))\n"
                               "result = {'ok': True, 'n': [1, 2]}")
    assert isinstance(r, eryx.ExecuteResult)
    assert r.stdout_text == "pi 3.14\n" and str(r) == r.stdout_text
    assert r.stderr_text == ""
    assert r.result == {"ok": True, "n": [1, 2]}
    assert r.result_json == '{"ok": true, "n": [1, 2]}'
    assert r.result_error is None
    assert r.duration_ms > 0
    assert r.callback_invocations == 0
    assert r.peak_memory_bytes > 4 * 2**20
    assert r.fuel_consumed is None  # not counted unless asked (count_fuel)


def test_each_execute_starts_clean():
    sb = eryx.Sandbox()
    sb.execute("x = 1")
    with pytest.raises(eryx.ExecutionError) as e:
        sb.execute("print(x)")
    assert e.value.error_type == "NameError"


def test_result_variable_and_unserializable_result():
    sb = eryx.Sandbox(result_variable="answer")
    assert sb.execute("answer = 42").result == 42
    r = eryx.Sandbox().execute("result = object()")
    assert r.result is None and r.result_error


def test_stdout_and_stderr_stream_in_order():
    seen = []
    sb = eryx.Sandbox(on_stdout=lambda t: seen.append(("out", t)),
                      on_stderr=lambda t: seen.append(("err", t)))
    r = sb.execute("import sys\nfor i in range(3):\n    print(i)\n"
                   "    print('e', i, file=sys.stderr)\n")
    out = b"".join(t for k, t in seen if k == "out").decode()
    err = b"".join(t for k, t in seen if k == "err").decode()
    assert out == r.stdout_text == "0\n1\n2\n"
    assert err == r.stderr_text == "e 0\ne 1\ne 2\n"
    kinds = [k for k, _ in seen]
    assert kinds.index("err") < len(kinds) - 1 - kinds[::-1].index("out")  # interleaved


def test_execution_error_carries_details_and_output():
    with pytest.raises(eryx.ExecutionError) as e:
        eryx.Sandbox().execute("print('before')\n\ndef f():\n    raise ValueError('bad')\nf()")
    err = e.value
    assert isinstance(err, eryx.EryxError)
    assert err.error_type == "ValueError" and err.message == "bad"
    assert err.line == 4 and "ValueError: bad" in err.traceback
    assert err.stdout_text == "before\n"
    with pytest.raises(eryx.ExecutionError) as e:
        eryx.Sandbox().execute("def (:")
    assert e.value.error_type == "SyntaxError"


def test_timeout_is_an_eryx_error_and_a_builtin_timeout_error():
    sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(execution_timeout_ms=200))
    t = time.monotonic()
    with pytest.raises(eryx.TimeoutError) as e:
        sb.execute("print('started')\nwhile True: pass")
    assert time.monotonic() - t < 5
    assert isinstance(e.value, TimeoutError) and isinstance(e.value, eryx.EryxError)
    assert e.value.result.stdout_text == "started\n"
    try:
        sb.execute("while True: pass")
    except eryx.EryxError:
        pass
    else:
        pytest.fail("no error")
    assert sb.execute("result = 1").result == 1  # reusable


def test_memory_and_fuel_limits():
    sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(max_memory_bytes=64 * 2**20))
    with pytest.raises(eryx.ResourceLimitError) as e:
        sb.execute("b = bytearray(500 * 2**20)")
    assert e.value.error_type == "MemoryError"
    limited = eryx.Sandbox(resource_limits=eryx.ResourceLimits(max_fuel=5_000_000))
    with pytest.raises(eryx.ResourceLimitError):
        limited.execute("while True: pass")
    r = eryx.Sandbox(resource_limits=eryx.ResourceLimits(max_fuel=10**10)).execute("x = 1")
    assert r.fuel_consumed > 0


def test_resource_limits_defaults_unlimited_and_validation():
    d = eryx.ResourceLimits()
    assert (d.execution_timeout_ms, d.callback_timeout_ms, d.max_memory_bytes,
            d.max_callback_invocations, d.max_fuel) == (30000, 10000, 128 * 2**20, 1000, None)
    u = eryx.ResourceLimits.unlimited()
    assert u.execution_timeout_ms is None and u.max_memory_bytes is None
    assert eryx.Sandbox(resource_limits=u).execute("result = 2 ** 10").result == 1024
    with pytest.raises(ValueError):
        eryx.Sandbox(resource_limits=eryx.ResourceLimits(execution_timeout_ms=-1))
    with pytest.raises(TypeError):
        eryx.Sandbox(resource_limits={"execution_timeout_ms": 5})
    with pytest.raises(TypeError):
        eryx.Sandbox(network=object())
    with pytest.raises(TypeError):
        eryx.Sandbox().execute(b"print(1)")


def test_the_gil_is_released_while_code_runs():
    sb = eryx.Sandbox()
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    before = ticks
    sb.execute("import time\nend = time.monotonic() + 0.5\nwhile time.monotonic() < end: pass")
    during = ticks - before
    stop.set()
    t.join()
    assert during > 100  # the thread ran all along (about 1 tick per ms)


def test_many_threads_use_different_sandboxes_at_once():
    results, errors = {}, []

    def work(i):
        try:
            sb = eryx.Sandbox()
            results[i] = sb.execute(f"result = sum(range({i} * 1000))").result
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == {i: sum(range(i * 1000)) for i in range(8)}


def test_trace_events_of_user_code():
    events = []
    sb = eryx.Sandbox(on_trace=events.append)
    sb.execute("import json\ndef double(x):\n    return x * 2\ny = double(json.loads('2'))")
    assert all(isinstance(e, eryx.TraceEvent) for e in events)
    assert ("call", 2, "double") in [(e.kind, e.line, e.function) for e in events]
    assert any(e.kind == "return" and e.function == "double" for e in events)
    assert {e.function for e in events} <= {"<module>", "double"}  # nothing from json


def test_reentrant_use_from_a_handler_is_an_error_not_a_hang():
    box = {}
    errors = []

    def on_stdout(text):
        try:
            box["sb"].execute("pass")
        except RuntimeError as exc:
            errors.append(str(exc))

    box["sb"] = eryx.Sandbox(on_stdout=on_stdout)
    r = box["sb"].execute("print('hi')")
    assert r.stdout_text == "hi\n"
    assert errors and "already running" in errors[0]
