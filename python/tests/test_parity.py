"""The Python API in the shape of upstream pyeryx 0.11: bytes output, text
views, reprs, names, and the exceptions raised for each failure."""

import pytest

import eryx


def test_output_is_bytes_and_non_utf8_survives():
    seen = []
    r = eryx.Sandbox(on_stdout=seen.append).execute(
        "import os, sys\n"
        "print('caf\\u00e9')\n"
        "sys.stdout.buffer.write(b'\\xff\\xfe raw\\n')\n"
        "sys.stdout.flush()\n"
        "os.write(1, b'\\xc3(\\n')\n"
        "print('end')\n")
    assert isinstance(r.stdout, bytes) and isinstance(r.stderr, bytes)
    assert r.stdout == "café\n".encode() + b"\xff\xfe raw\n\xc3(\nend\n"
    assert b"".join(seen) == r.stdout
    assert all(isinstance(chunk, bytes) for chunk in seen)
    assert r.stdout_text == "café\n\ufffd\ufffd raw\n\ufffd(\nend\n"
    assert str(r) == r.stdout_text


def test_stderr_bytes_and_handler():
    seen = []
    r = eryx.Sandbox(on_stderr=seen.append).execute(
        "import sys\nsys.stderr.buffer.write(b'\\x80err\\n')\nsys.stderr.flush()\n")
    assert r.stderr == b"\x80err\n" and b"".join(seen) == r.stderr
    assert r.stderr_text == "\ufffderr\n"


def test_result_repr_names_its_fields():
    r = eryx.Sandbox().execute("print('hi')\nresult = {'a': 1}")
    text = repr(r)
    for field in ("stdout='hi\\n'", "stderr=''", "duration_ms=", "callback_invocations=0",
                  "peak_memory_bytes=", "fuel_consumed=None", "result='{\"a\": 1}'",
                  "result_error=None"):
        assert field in text, text


def test_fuel_reported_when_counted():
    r = eryx.Sandbox().execute("x = 1")
    assert r.fuel_consumed is None  # counting costs ~20%: off unless asked
    assert isinstance(r.peak_memory_bytes, int) and r.peak_memory_bytes > 16 << 20
    sb = eryx.Sandbox(count_fuel=True)
    small = sb.execute("x = 1").fuel_consumed
    big = sb.execute("s = 0\nfor i in range(100000):\n    s += i").fuel_consumed
    assert isinstance(small, int) and small > 0 and big > small * 10
    limited = eryx.Sandbox(resource_limits=eryx.ResourceLimits(max_fuel=10**9))
    assert 0 < limited.execute("x = 1").fuel_consumed < 10**9


def test_callback_registry_as_upstream():
    reg = eryx.CallbackRegistry()

    @reg.callback(description="Adds")
    def add(a: int, b: int = 2):
        return a + b

    reg.add(lambda: 1, name="one")
    assert len(reg) == 2
    items = list(reg)
    assert [d["name"] for d in items] == ["add", "one"]
    assert set(items[0]) == {"name", "fn", "description", "schema"}
    assert items[0]["fn"] is add and items[0]["description"] == "Adds"
    assert items[0]["schema"]["required"] == ["a"]
    assert repr(reg) == "CallbackRegistry([add, one])"
    assert eryx.Sandbox(callbacks=reg).execute("result = await add(a=1)").result == 3


def test_reprs_are_informative():
    reg = eryx.CallbackRegistry()
    reg.add(lambda: 1, name="one")
    sb = eryx.Sandbox(callbacks=reg,
                      resource_limits=eryx.ResourceLimits(execution_timeout_ms=1234))
    assert "execution_timeout_ms=1234" in repr(sb) and "one" in repr(sb)
    assert repr(sb).startswith("Sandbox(")
    s = eryx.Session()
    s.execute("x = 1")
    assert repr(s).startswith("Session(execution_count=1")
    assert "max_memory_bytes=134217728" in repr(eryx.ResourceLimits())
    net = repr(eryx.NetConfig(allowed_hosts=["api.example.com"]))
    assert "api.example.com" in net and "max_connections=10" in net


def test_resource_limits_as_upstream():
    limits = eryx.ResourceLimits(max_vfs_bytes=1 << 20)
    assert limits.max_vfs_bytes == 1 << 20
    u = eryx.ResourceLimits.unlimited()
    assert u.execution_timeout_ms is None and u.max_memory_bytes is None
    assert u.max_fuel is None and u.max_callback_invocations is None


def test_session_fuel_and_vfs_properties():
    s = eryx.Session(max_fuel=10**9)
    assert s.fuel_limit == 10**9
    r = s.execute("x = 1")
    assert 0 < r.fuel_consumed < 10**9
    with pytest.raises(eryx.ResourceLimitError):
        s.execute("while True: pass")
    # Unlike upstream, the session is usable after a limit (state lost).
    assert s.execute("print('alive')").stdout == b"alive\n"
    assert eryx.Session().fuel_limit is None
    s.fuel_limit = None  # no budget, still counted
    r = s.execute("s = 0\nfor i in range(100000):\n    s += i")
    assert s.fuel_limit is None and r.fuel_consumed > 0
    s.fuel_limit = 10**6
    with pytest.raises(eryx.ResourceLimitError):
        s.execute("while True: pass")
    with pytest.raises(eryx.InvalidArgumentError, match="count_fuel"):
        eryx.Session().fuel_limit = 10**6
    storage = eryx.VfsStorage()
    s = eryx.Session(vfs=storage, vfs_mount_path="/work")
    assert s.vfs is storage and s.vfs_mount_path == "/work"
    assert eryx.Session().vfs is None and eryx.Session().vfs_mount_path is None


def test_callback_dict_errors_are_key_errors():
    with pytest.raises(KeyError, match="'name'"):
        eryx.Sandbox(callbacks=[{"fn": lambda: {}, "description": ""}])
    with pytest.raises(KeyError, match="'fn'"):
        eryx.Sandbox(callbacks=[{"name": "test", "description": ""}])


def test_failing_callback_is_a_runtime_error_inside():
    def boom():
        raise ValueError("nope")
    sb = eryx.Sandbox(callbacks=[{"name": "boom", "fn": boom}])
    r = sb.execute("try:\n    await boom()\nexcept RuntimeError as e:\n"
                   "    result = [type(e).__name__, str(e), e.error_type]")
    assert r.result == ["CallbackError", "nope", "ValueError"]
    with pytest.raises(eryx.ExecutionError) as e:
        sb.execute("await boom()")
    assert "nope" in str(e.value)


def test_bad_snapshot_raises_initialization_error():
    s = eryx.Session()
    with pytest.raises(eryx.InitializationError) as e:
        s.restore_state(b"garbage")
    assert isinstance(e.value, eryx.ExecutionError)  # what upstream documents
    assert isinstance(e.value, eryx.SnapshotError)


def test_argv_reaches_sys_argv():
    r = eryx.Sandbox(argv=["prog.py", "a", "b c"]).execute("import sys\nresult = sys.argv")
    assert r.result == ["prog.py", "a", "b c"]
    with pytest.raises(TypeError):
        eryx.Sandbox(argv="prog.py")
