"""Replay journals and suspension from Python: execute_with_journal,
SuspendCallback, signed journals, on Sandbox, Session and pooled sandboxes."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import eryx

KEY = b"host key of the test, never given to the guest"

APPROVAL_CODE = textwrap.dedent("""\
    total = 0
    for i in range(3):
        total += await price(item=i)
    print("priced", total)
    ok = await approve(amount=total)
    print("approved", ok)
    result = {"total": total, "ok": ok}
""")


class Counter:
    def __init__(self):
        self.calls = 0

    def price(self, item: int) -> int:
        self.calls += 1
        return 10 * (item + 1)


def approval_callbacks(counter, decision):
    def approve(amount: int):
        if decision is None:
            raise eryx.SuspendCallback(f"waiting for a human to approve {amount}")
        return decision
    return [{"name": "price", "fn": counter.price}, {"name": "approve", "fn": approve}]


def test_replay_of_100_calls_does_not_call_the_host():
    counter = Counter()
    sb = eryx.Sandbox(callbacks=[{"name": "price", "fn": counter.price}],
                      resource_limits=eryx.ResourceLimits(max_callback_invocations=500))
    code = "result = sum([await price(item=i) for i in range(100)])"
    first = sb.execute_with_journal(code)
    assert first.error is None and first.result.result == sum(10 * (i + 1) for i in range(100))
    assert counter.calls == 100 and first.replayed_callbacks == 0
    assert len(first.journal["entries"]) == 100
    again = sb.execute_with_journal(code, journal=json.loads(json.dumps(first.journal)))
    assert counter.calls == 100, "replayed calls reached the host function"
    assert again.replayed_callbacks == 100 and again.result.result == first.result.result


def test_a_mismatch_switches_to_live_calls():
    counter = Counter()
    sb = eryx.Sandbox(callbacks=[{"name": "price", "fn": counter.price}])
    rec = sb.execute_with_journal("for i in range(5):\n    await price(item=i)")
    counter.calls = 0
    out = sb.execute_with_journal("await price(item=0)\nawait price(item=9)\n"
                                  "await price(item=2)", journal=rec.journal)
    # item=0 replays; item=9 misses, and from then on every call is live,
    # even item=2, which the journal holds.
    assert out.replayed_callbacks == 1 and counter.calls == 2


def test_suspend_then_resume_in_the_same_process():
    counter = Counter()
    sb = eryx.Sandbox(callbacks=approval_callbacks(counter, None))
    out = sb.execute_with_journal(APPROVAL_CODE)
    assert out.suspended is not None and out.result is None
    assert isinstance(out.error, eryx.ExecutionError)
    assert out.suspended.name == "approve"
    assert json.loads(out.suspended.args_json) == {"amount": 60}
    assert out.suspended.reason == "waiting for a human to approve 60"
    assert "approved" not in out.error.stdout_text  # nothing ran past the suspension
    assert [e["name"] for e in out.journal["entries"]] == ["price"] * 3
    assert counter.calls == 3
    sb2 = eryx.Sandbox(callbacks=approval_callbacks(counter, True))
    done = sb2.execute_with_journal(APPROVAL_CODE, journal=out.journal)
    assert done.error is None and done.suspended is None
    assert done.result.result == {"total": 60, "ok": True}
    assert done.replayed_callbacks == 3 and counter.calls == 3
    assert "approved True" in done.result.stdout_text


RESUME = textwrap.dedent("""\
    import json, sys
    import eryx
    calls = []
    def price(item: int):
        calls.append(item)
        return 10 * (item + 1)
    sb = eryx.Sandbox(callbacks=[{"name": "price", "fn": price},
                                 {"name": "approve", "fn": lambda amount: "yes"}])
    journal = json.load(open(sys.argv[1]))
    out = sb.execute_with_journal(sys.argv[2], journal=journal, key=sys.argv[3].encode())
    print(json.dumps({"result": out.result.result if out.result else None,
                      "error": str(out.error) if out.error else None,
                      "replayed": out.replayed_callbacks, "live_prices": calls}))
""")


def _resume_elsewhere(tmp_path, journal, key):
    jf = tmp_path / "journal.json"
    jf.write_text(json.dumps(journal))
    p = subprocess.run([sys.executable, "-c", RESUME, str(jf), APPROVAL_CODE, key.decode()],
                       capture_output=True, text=True, timeout=120)
    return p


def test_signed_journal_resumes_in_a_second_process(tmp_path):
    counter = Counter()
    sb = eryx.Sandbox(callbacks=approval_callbacks(counter, None))
    out = sb.execute_with_journal(APPROVAL_CODE, key=KEY)
    assert out.suspended is not None and "signature" in out.journal
    p = _resume_elsewhere(tmp_path, out.journal, KEY)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["error"] is None and got["result"] == {"total": 60, "ok": "yes"}
    assert got["replayed"] == 3 and got["live_prices"] == []


def test_tampered_or_foreign_journals_are_refused(tmp_path):
    counter = Counter()
    sb = eryx.Sandbox(callbacks=approval_callbacks(counter, None))
    out = sb.execute_with_journal(APPROVAL_CODE, key=KEY)
    tampered = json.loads(json.dumps(out.journal))
    tampered["entries"][0]["value"] = "1000000"  # an answer changed
    with pytest.raises(eryx.JournalError, match="signature"):
        sb.execute_with_journal(APPROVAL_CODE, journal=tampered, key=KEY)
    with pytest.raises(ValueError):  # JournalError is a ValueError, as upstream's
        sb.execute_with_journal(APPROVAL_CODE, journal=out.journal, key=b"another key")
    with pytest.raises(eryx.JournalError, match="different code"):
        sb.execute_with_journal(APPROVAL_CODE + "\n# edited", journal=out.journal, key=KEY)
    unsigned = {k: v for k, v in out.journal.items() if k != "signature"}
    with pytest.raises(eryx.JournalError, match="not signed"):
        sb.execute_with_journal(APPROVAL_CODE, journal=unsigned, key=KEY)
    p = _resume_elsewhere(tmp_path, tampered, KEY)
    assert p.returncode != 0 and "JournalError" in p.stderr
    assert counter.calls == 3  # nothing ran for the refused journals
    for bad in ({"format": "something else"}, {"entries": "x"}, "not json"):
        with pytest.raises(eryx.JournalError):
            sb.execute_with_journal("pass", journal=bad)


def test_failures_replay_as_the_same_error():
    calls = []

    def flaky():
        calls.append(1)
        raise LookupError("no such record")
    sb = eryx.Sandbox(callbacks=[{"name": "flaky", "fn": flaky}])
    code = ("try:\n    await flaky()\nexcept RuntimeError as e:\n"
            "    result = [e.error_type, str(e)]")
    first = sb.execute_with_journal(code)
    again = sb.execute_with_journal(code, journal=first.journal)
    assert first.result.result == again.result.result == ["LookupError", "no such record"]
    assert len(calls) == 1 and again.replayed_callbacks == 1


def test_session_rolls_back_a_suspended_run():
    counter = Counter()
    s = eryx.Session(callbacks=approval_callbacks(counter, None))
    s.execute("runs = 0")
    code = "runs += 1\n" + APPROVAL_CODE
    out = s.execute_with_journal(code)
    assert out.suspended is not None
    # The halted run's `runs += 1` was undone: resuming applies it once.
    assert s.execute("result = runs").result == 0
    s2 = eryx.Session(callbacks=approval_callbacks(counter, "ok"))
    s2.execute("runs = 0")
    done = s2.execute_with_journal(code, journal=out.journal)
    assert done.result.result == {"total": 60, "ok": "ok"}
    assert s2.execute("result = runs").result == 1


def test_pooled_sandbox_journal():
    counter = Counter()
    with eryx.SandboxPool(max_size=1) as pool:
        with pool.acquire(callbacks=approval_callbacks(counter, None)) as sb:
            out = sb.execute_with_journal(APPROVAL_CODE)
        assert out.suspended is not None
        with pool.acquire(callbacks=approval_callbacks(counter, False)) as sb:
            done = sb.execute_with_journal(APPROVAL_CODE, journal=out.journal)
        assert done.result.result == {"total": 60, "ok": False}
        assert counter.calls == 3


def test_async_callback_can_suspend():
    async def wait_for_human(question: str):
        raise eryx.SuspendCallback("ask later")
    sb = eryx.Sandbox(callbacks=[{"name": "wait_for_human", "fn": wait_for_human}])
    out = sb.execute_with_journal("print('before')\nawait wait_for_human(question='ok?')\n"
                                  "print('after')")
    assert out.suspended.reason == "ask later" and out.suspended.name == "wait_for_human"
    assert out.error.stdout_text == "before\n"
