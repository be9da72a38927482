"""Python callbacks: dicts and registries, sync and async, errors, limits."""
import asyncio
import threading
import time
from typing import List, Literal, Optional

import pytest

import eryx


def test_callbacks_as_a_list_of_dicts():
    calls = []

    def add(a: int, b: int = 1) -> int:
        """Adds two numbers.

        More text that is not the description."""
        calls.append((a, b))
        return a + b

    sb = eryx.Sandbox(callbacks=[{"name": "add", "fn": add},
                                 {"name": "hello", "fn": lambda: "hi", "description": "greets"}])
    r = sb.execute("result = [await add(a=2, b=3), await add(5), await hello(),\n"
                   "          [(c['name'], c['description']) for c in list_callbacks()]]")
    assert r.result[:3] == [5, 6, "hi"]
    assert sorted(map(tuple, r.result[3])) == [("add", "Adds two numbers."), ("hello", "greets")]
    assert calls == [(2, 3), (5, 1)]
    assert r.callback_invocations == 3


def test_registry_decorator_add_and_inferred_schema():
    reg = eryx.CallbackRegistry()

    @reg.callback
    def search(query: str, limit: Optional[int] = None, tags: List[str] = ()) -> list:
        """Search things."""
        return [query, limit, list(tags)]

    @reg.callback(name="mode", description="pick a mode")
    def pick(m: Literal["a", "b"]):
        return m

    reg.add(lambda x: x * 2, name="twice", schema={"type": "object",
                                                    "properties": {"x": {"type": "number"}},
                                                    "required": ["x"]})
    assert len(reg) == 3 and "search" in reg
    with pytest.raises(ValueError):
        reg.add(lambda: 1, name="twice")
    sb = eryx.Sandbox(callbacks=reg)
    r = sb.execute(
        "out = [await search('q', 3, ['t']), await mode(m='b'), await twice(x=1.5)]\n"
        "errs = []\n"
        "for coro in [lambda: search(query=1), lambda: mode(m='c'), lambda: search()]:\n"
        "    try:\n"
        "        await coro()\n"
        "    except Exception as e:\n"
        "        errs.append(type(e).__name__)\n"
        "schema = {c['name']: c['schema'] for c in list_callbacks()}['search']\n"
        "result = [out, errs, schema]")
    out, errs, schema = r.result
    assert out == [["q", 3, ["t"]], "b", 3.0]
    assert len(errs) == 3  # checked against the schema inside the sandbox
    assert schema["properties"]["query"] == {"type": "string"}
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert schema["required"] == ["query"]
    assert r.callback_invocations == 3  # the refused calls never reached the host


def test_sync_and_async_callbacks_run_in_parallel_under_gather():
    active, peak = 0, 0
    lock = threading.Lock()

    def slow_sync(i: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.2)
        with lock:
            active -= 1
        return i

    async def slow_async(i: int) -> int:
        await asyncio.sleep(0.2)
        return -i

    sb = eryx.Sandbox(callbacks=[{"name": "s", "fn": slow_sync}, {"name": "a", "fn": slow_async}])
    t = time.monotonic()
    r = sb.execute("import asyncio\n"
                   "result = await asyncio.gather(*[s(i) for i in range(10)],\n"
                   "                              *[a(i) for i in range(100)])")
    took = time.monotonic() - t
    assert r.result == list(range(10)) + [-i for i in range(100)]
    assert peak >= 5
    assert took < 2.0, took  # serial would take 22 s


def test_other_tasks_and_timers_run_while_a_callback_is_awaited():
    # A lone `await f()` waits for its answer without a turn of the event
    # loop; with anything else to run (a task, a timer) it must not.
    async def slow() -> str:
        await asyncio.sleep(0.3)
        return "answer"

    sb = eryx.Session(callbacks=[{"name": "slow", "fn": slow}])
    r = sb.execute("import asyncio\n"
                   "ticks = []\n"
                   "async def ticker():\n"
                   "    for i in range(5):\n"
                   "        ticks.append(i)\n"
                   "        await asyncio.sleep(0.02)\n"
                   "t = asyncio.create_task(ticker())\n"
                   "v = await slow()\n"
                   "timer = []\n"
                   "asyncio.get_running_loop().call_later(0.02, timer.append, 'fired')\n"
                   "w = await slow()\n"
                   "result = [v, ticks, w, timer]")
    assert r.result == ["answer", [0, 1, 2, 3, 4], "answer", ["fired"]]
    # And alone, one after another, answers and failures keep their order.
    r = sb.execute("out = []\n"
                   "for i in range(20):\n"
                   "    out.append(await slow() if i % 7 else await invoke('slow'))\n"
                   "result = out")
    assert r.result == ["answer"] * 20


def test_coroutine_callbacks_not_yet_started_are_dropped_when_cancelled():
    # The loop thread is kept busy by one callback, so the other starts stay
    # queued (python/src/starts.c) until the execution times out: they are
    # cancelled there and never run, and the loop goes on serving.
    ran = []

    async def hog() -> int:
        time.sleep(0.6)  # blocks the callback loop on purpose
        return 0

    async def count(i: int) -> int:
        ran.append(i)
        return i

    limits = eryx.ResourceLimits(execution_timeout_ms=300)
    sb = eryx.Sandbox(resource_limits=limits,
                      callbacks=[{"name": "hog", "fn": hog}, {"name": "count", "fn": count}])
    with pytest.raises(eryx.TimeoutError):
        sb.execute("import asyncio\n"
                   "h = asyncio.ensure_future(hog())\n"
                   "await asyncio.sleep(0.1)\n"
                   "await asyncio.gather(*[count(i) for i in range(5)])")
    time.sleep(0.8)
    assert ran == []
    assert sb.execute("result = await count(7)").result == 7
    assert ran == [7]


def test_a_raising_callback_is_a_catchable_exception_inside():
    def boom(x: int):
        raise KeyError(f"no such thing: {x}")

    async def aboom():
        raise RuntimeError("async failure")

    sb = eryx.Sandbox(callbacks=[{"name": "boom", "fn": boom}, {"name": "aboom", "fn": aboom}])
    r = sb.execute("out = []\n"
                   "for f in (lambda: boom(1), aboom):\n"
                   "    try:\n"
                   "        await f()\n"
                   "    except CallbackError as e:\n"
                   "        out.append([e.error_type, str(e)])\n"
                   "result = out")
    assert r.result[0][0] == "KeyError" and "no such thing: 1" in r.result[0][1]
    assert r.result[1] == ["RuntimeError", "async failure"]
    with pytest.raises(eryx.ExecutionError) as e:
        sb.execute("await boom(2)")
    assert e.value.error_type == "CallbackError"


def test_unjsonable_return_values_fail_the_call():
    sb = eryx.Sandbox(callbacks=[{"name": "bad", "fn": lambda: object()}])
    r = sb.execute("try:\n    await bad()\nexcept CallbackError as e:\n"
                   "    result = e.error_type")
    assert r.result == "TypeError"


def test_invocation_limit_and_callback_timeout():
    limits = eryx.ResourceLimits(max_callback_invocations=3, callback_timeout_ms=200)
    sb = eryx.Sandbox(resource_limits=limits,
                      callbacks=[{"name": "f", "fn": lambda: 1},
                                 {"name": "slow", "fn": lambda: time.sleep(2)}])
    with pytest.raises(eryx.ResourceLimitError) as e:
        sb.execute("for _ in range(5):\n    await f()")
    assert e.value.error_type == "CallbackLimitError"
    t = time.monotonic()
    r = sb.execute("try:\n    await slow()\nexcept TimeoutError as e:\n"
                   "    result = type(e).__name__")
    assert r.result == "CallbackTimeoutError"
    assert time.monotonic() - t < 1.5


def test_bad_callback_definitions_are_refused():
    with pytest.raises(KeyError):
        eryx.Sandbox(callbacks=[{"name": "x"}])
    with pytest.raises(ValueError):
        eryx.Sandbox(callbacks=[{"name": "x", "fn": print, "colour": "red"}])
    with pytest.raises(TypeError):
        eryx.Sandbox(callbacks=[42])
    with pytest.raises(eryx.EryxError):
        eryx.Sandbox(callbacks=[{"name": "not a name", "fn": print}])


def test_a_callable_without_a_readable_signature_takes_any_arguments():
    class Opaque:
        __signature__ = property(lambda self: (_ for _ in ()).throw(ValueError("no")))

        def __call__(self, **kw):
            return sorted(kw)

    sb = eryx.Sandbox(callbacks=[{"name": "opaque", "fn": Opaque()}])
    assert sb.execute("result = await opaque(b=1, a=2)").result == ["a", "b"]
