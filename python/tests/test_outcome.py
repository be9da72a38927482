"""What a hostile or careless guest gets back through the Python package:
lone surrogates, results json cannot encode, MemoryError, sys.exit()."""
import pytest

import eryx


def test_lone_surrogates_in_output_are_escaped():
    seen = []
    r = eryx.Sandbox(on_stdout=seen.append).execute(
        "import sys\nprint('a\\ud800')\nsys.stdout.write('\\udfff\\n')\n"
        "print('e\\udc80', file=sys.stderr)\n")
    assert r.stdout_text == "a\\ud800\n\\udfff\n"
    assert b"".join(seen).decode() == r.stdout_text
    assert r.stderr_text == "e\\udc80\n"


def test_lone_surrogate_in_an_exception_message():
    with pytest.raises(eryx.ExecutionError) as e:
        eryx.Sandbox().execute("raise ValueError('k\\ud800')")
    assert e.value.error_type == "ValueError"
    assert e.value.message == "k\\ud800"  # the six characters \ud800
    assert "ValueError: k\\ud800" in e.value.traceback


@pytest.mark.parametrize("code, why", [
    ("result = 'x\\ud800'", "lone surrogate"),
    ("r = []\n[r := [r] for _ in range(100000)]\nresult = r", "127 levels"),
    ("r = {}\n[r := {'k': r} for _ in range(100000)]\nresult = r", "127 levels"),
    ("r = []\nr.append(r)\nresult = r", "circular"),
    ("result = float('nan')", "not JSON compliant"),
    ("result = {'x': float('inf')}", "not JSON compliant"),
])
def test_results_json_cannot_take_are_result_errors(code, why):
    r = eryx.Sandbox().execute(code)
    assert r.result is None and r.result_json is None
    assert "result variable 'result'" in r.result_error and why in r.result_error


def test_uncaught_memory_error_is_a_resource_limit():
    sb = eryx.Sandbox(resource_limits=eryx.ResourceLimits(max_memory_bytes=64 * 2**20))
    with pytest.raises(eryx.ResourceLimitError) as e:
        sb.execute("print('before')\nb = bytearray(500 * 2**20)")
    assert e.value.error_type == "MemoryError" and e.value.stdout_text == "before\n"
    assert e.value.exit_code is None
    assert sb.execute("result = 1").result == 1


@pytest.mark.parametrize("call", ["sys.exit()", "sys.exit(0)", "sys.exit(None)"])
def test_sys_exit_success_is_a_normal_result(call):
    r = eryx.Sandbox().execute(f"import sys\nprint('out')\nresult = 1\n{call}\nprint('no')")
    assert r.stdout_text == "out\n" and r.stderr_text == ""
    assert r.exit_code == 0
    assert r.result == 1  # a success like any other: the result is taken


@pytest.mark.parametrize("call, code, message, stderr", [
    ("sys.exit(3)", 3, "3", ""),
    ("sys.exit(300)", 255, "300", ""),
    ("sys.exit(-2)", 255, "-2", ""),
    ("sys.exit('bye')", 1, "bye", "bye\n"),
])
def test_sys_exit_failure_is_an_execution_error(call, code, message, stderr):
    with pytest.raises(eryx.ExecutionError) as e:
        eryx.Sandbox().execute(f"import sys\n{call}")
    assert e.value.error_type == "SystemExit"
    assert e.value.exit_code == code and e.value.result.exit_code == code
    assert e.value.message == message
    assert e.value.traceback == "" and e.value.stderr_text == stderr


def test_plain_execution_has_no_exit_code():
    assert eryx.Sandbox().execute("pass").exit_code is None


def test_raw_import_with_a_lone_surrogate_ends_only_that_run():
    sb = eryx.Sandbox()
    with pytest.raises(eryx.EryxError):
        sb.execute("from wit_world.imports import host\nhost.emit_output(1, '\\ud800')")
    assert sb.execute("print('fine')").stdout_text == "fine\n"
    s = eryx.Session()
    s.execute("x = 5")
    with pytest.raises(eryx.EryxError):
        s.execute("from wit_world.imports import host\nhost.emit_output(2, '\\udfff')")
    assert s.execute("result = 'alive'").result == "alive"
