"""The host's checks seen from Python: sandboxed code that calls the host
imports itself still meets the limits and schemas, and the package only
ever raises EryxError subclasses for what the guest hands back."""
import eryx
import pytest


def test_raw_callback_call_is_checked_on_host():
    seen = []
    reg = eryx.CallbackRegistry()

    @reg.callback
    def get_user(id: int) -> dict:
        seen.append(id)
        return {"id": id}

    sb = eryx.Sandbox(callbacks=reg)
    r = sb.execute(
        "from wit_world.imports import host\n"
        "from componentize_py_types import Err\n"
        "out = []\n"
        "for args in ['{\"id\": \"1; DROP TABLE users\"}', '[1]', '{', '{\"id\": 2, \"x\": 1}']:\n"
        "    try:\n"
        "        host.callback_start('get_user', args)\n"
        "        out.append('accepted')\n"
        "    except Err as e:\n"
        "        out.append(e.value.kind)\n"
        "result = out\n")
    assert r.result[:3] == ["invalid", "invalid", "invalid"]
    assert seen == []
    assert sb.execute("result = await get_user(id=5)").result == {"id": 5}
    assert seen == [5]


def test_limits_are_resource_limits_fields():
    limits = eryx.ResourceLimits(max_output_bytes=1000, max_result_bytes=100,
                                 max_callback_args_bytes=64)
    sb = eryx.Sandbox(resource_limits=limits)
    r = sb.execute("from wit_world.imports import host\n"
                   "for _ in range(100):\n"
                   "    host.emit_output(1, 'x' * 100)\n")
    assert len(r.stdout_text) == 1000 and r.output_truncated
    r = sb.execute("result = 'y' * 500")
    assert r.result_json is None and "max_result_bytes" in r.result_error
    with pytest.raises(ValueError):
        eryx.ResourceLimits(max_result_bytes=-1)._native()


def test_forged_result_text_is_a_result_error():
    sb = eryx.Sandbox()
    r = sb.execute("import json\njson.dumps = lambda *a, **k: '{\"stdout\": 1} junk'\n"
                   "result = 1")
    assert r.result_json is None
    assert "not valid JSON" in r.result_error
    assert r.result is None


def test_reserved_callback_name_refused():
    with pytest.raises(eryx.EryxError, match="would hide"):
        eryx.Sandbox(callbacks=[{"name": "print", "fn": lambda: None}])


def test_unknown_schema_keyword_refused():
    with pytest.raises(eryx.EryxError, match="unsupported keyword"):
        eryx.Sandbox(callbacks=[{"name": "f", "fn": lambda n: n,
                                 "schema": {"type": "object", "properties": {
                                     "n": {"type": "integer", "minimun": 1}}}}])


def test_huge_timeout_means_none():
    import sys
    limits = eryx.ResourceLimits(execution_timeout_ms=sys.maxsize)
    assert eryx.Sandbox(resource_limits=limits).execute("result = 2").result == 2
