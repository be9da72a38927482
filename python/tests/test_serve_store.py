"""The stores of `eryx serve` (eryx/serve/store.py) directly, the embedded
one and Redis (a real redis-server started here): fenced commits, leases
that expire and are taken over, version checks, TTL, unreachable Redis.

Design: the same checks run on both stores, since the HTTP layer relies on
them behaving alike.
"""

import time

import pytest

from eryx.serve.store import (LeaseLost, MemoryStore, NoSuchSession, RedisStore,
                              StoreUnavailable, VersionConflict, open_store, StoreError)
from serve_util import Redis, free_port


@pytest.fixture(scope="module")
def redis_server():
    r = Redis().start()
    yield r
    r.stop()


@pytest.fixture(params=["memory", "redis"])
def store(request, redis_server):
    s = MemoryStore() if request.param == "memory" else RedisStore(redis_server.url,
                                                                   prefix=f"t{time.time()}:")
    yield s
    s.close()


def test_fenced_commit_and_takeover(store):
    store.create("s1", {"owner": "o", "limits": "{}"}, 60000)
    assert store.meta("s1")["version"] == 0
    t1 = store.lease_acquire("s1", 200)
    assert t1 is not None
    assert store.lease_acquire("s1", 200) is None  # held
    assert store.commit("s1", t1, 0, b"one", 60000) == 1
    with pytest.raises(VersionConflict):
        store.commit("s1", t1, 0, b"stale", 60000)
    time.sleep(0.35)  # t1 expires; another holder takes it
    t2 = store.lease_acquire("s1", 5000)
    assert t2 is not None and t2 != t1
    assert not store.lease_renew("s1", t1, 5000)
    with pytest.raises(LeaseLost):
        store.commit("s1", t1, 1, b"lost update", 60000)
    store.lease_release("s1", t1)  # not ours any more: no effect
    assert store.lease_acquire("s1", 200) is None
    assert store.commit("s1", t2, 1, b"two", 60000) == 2
    rec = store.load("s1")
    assert rec["version"] == 2 and rec["blob"] == b"two" and rec["owner"] == "o"
    store.lease_release("s1", t2)
    assert store.lease_acquire("s1", 200) is not None


def test_missing_and_expiring(store):
    assert store.meta("nope") is None and store.load("nope") is None
    store.create("short", {"owner": "o"}, 150)
    with pytest.raises(StoreError):
        store.create("short", {"owner": "o"}, 150)
    time.sleep(0.3)
    assert store.meta("short") is None
    t = store.lease_acquire("short", 1000)
    with pytest.raises(NoSuchSession):
        store.commit("short", t, 0, b"x", 1000)


def test_unreachable_redis_is_named():
    s = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreUnavailable, match="unreachable"):
        s.ping()
    with pytest.raises(StoreUnavailable):
        s.lease_acquire("x", 100)


def test_open_store_urls():
    assert isinstance(open_store(None), MemoryStore)
    with pytest.raises(StoreError, match="redis://HOST:PORT/DB"):
        open_store("mysql://x")
