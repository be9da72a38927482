"""Where `eryx serve --http` keeps sessions: their metadata, their latest
committed snapshot and their lease.

Design:
- One interface, two stores. MemoryStore (the default) is a dict in this
  process, so one `eryx serve` works alone with no Redis; RedisStore
  (`--store redis://HOST:PORT/DB`, redis-py) is shared by every copy, which
  is what lets a session continue on another copy.
- A session is a record {owner, version, created, limits, blob, size}.
  `blob` is the session's own snapshot (Session.snapshot_state(): the
  versioned, checksummed format the C library writes; state + /data
  files), stored as the bytes it is; version 0 has no blob yet.
- A lease is a key holding a fencing token: acquire is `SET NX PX` of a
  token made of one global counter (INCR, so tokens grow) and 8 random
  bytes (so a Redis restarted with an older counter or none never hands
  a stale holder's token to someone else). Renew
  and release only act if the key still holds the caller's token.
- commit() writes version N+1 only if the caller's token still holds the
  lease AND the stored version is still N, atomically (a Lua script in
  Redis, one lock here): a copy whose lease expired while it ran can never
  overwrite a later step (no lost update); it gets LeaseLost instead.
- Every record and lease expires (session TTL, lease PX); each commit
  renews the session's TTL.
- Any failure to reach Redis is StoreUnavailable naming the cause; the
  HTTP layer answers 503 with it. Nothing is retried silently.
"""

import secrets
import threading
import time
from typing import Any, Dict, Optional


class StoreError(Exception):
    """Base of the store's errors."""


class StoreUnavailable(StoreError):
    """The store cannot be reached (the message names why)."""


class LeaseLost(StoreError):
    """The caller's lease expired or was taken: its step is not committed."""


class VersionConflict(StoreError):
    """The stored version is not the one the caller built on."""


class NoSuchSession(StoreError):
    """The session is not in the store (never created, deleted or expired)."""


def _meta(rec: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "blob"}


class MemoryStore:
    """The embedded store: this process only."""

    url = "memory:"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: Dict[str, Dict[str, Any]] = {}
        self._expires: Dict[str, float] = {}
        self._leases: Dict[str, tuple] = {}  # sid -> (token, deadline)
        self._fence = 0

    def _live(self, sid: str) -> Optional[Dict[str, Any]]:
        rec = self._sessions.get(sid)
        if rec is not None and self._expires.get(sid, 0) < time.monotonic():
            self._sessions.pop(sid, None)
            self._expires.pop(sid, None)
            return None
        return rec

    def ping(self) -> None:
        pass

    def create(self, sid: str, meta: Dict[str, Any], ttl_ms: int) -> None:
        with self._lock:
            now = time.monotonic()
            for old in [k for k, t in self._expires.items() if t < now]:  # expired ones
                self._sessions.pop(old, None)
                self._expires.pop(old, None)
            for old in [k for k, (_, t) in self._leases.items() if t < now]:
                del self._leases[old]
            if self._live(sid) is not None:
                raise StoreError(f"session {sid!r} exists")
            self._sessions[sid] = dict(meta, version=0, size=0, blob=b"")
            self._expires[sid] = time.monotonic() + ttl_ms / 1000

    def meta(self, sid: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            rec = self._live(sid)
            return None if rec is None else _meta(rec)

    def load(self, sid: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            rec = self._live(sid)
            return None if rec is None else dict(rec)

    def commit(self, sid: str, token: int, version: int, blob: bytes, ttl_ms: int) -> int:
        with self._lock:
            lease = self._leases.get(sid)
            if lease is None or lease[0] != token or lease[1] < time.monotonic():
                raise LeaseLost(f"the lease on session {sid!r} expired before its step "
                                f"was committed")
            rec = self._live(sid)
            if rec is None:
                raise NoSuchSession(sid)
            if rec["version"] != version:
                raise VersionConflict(f"session {sid!r} is at version {rec['version']}, "
                                      f"not {version}")
            rec.update(version=version + 1, blob=bytes(blob), size=len(blob),
                       updated=time.time())
            self._expires[sid] = time.monotonic() + ttl_ms / 1000
            return version + 1

    def delete(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)
            self._expires.pop(sid, None)

    def count(self) -> int:
        with self._lock:
            return sum(1 for sid in list(self._sessions) if self._live(sid) is not None)

    def lease_acquire(self, sid: str, px: int) -> Optional[int]:
        with self._lock:
            now = time.monotonic()
            held = self._leases.get(sid)
            if held is not None and held[1] >= now:
                return None
            self._fence += 1
            self._leases[sid] = (self._fence, now + px / 1000)
            return self._fence

    def lease_renew(self, sid: str, token: int, px: int) -> bool:
        with self._lock:
            held = self._leases.get(sid)
            if held is None or held[0] != token or held[1] < time.monotonic():
                return False
            self._leases[sid] = (token, time.monotonic() + px / 1000)
            return True

    def lease_release(self, sid: str, token: int) -> None:
        with self._lock:
            held = self._leases.get(sid)
            if held is not None and held[0] == token:
                del self._leases[sid]

    def close(self) -> None:
        pass


_COMMIT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return -2 end
if tonumber(v) ~= tonumber(ARGV[2]) then return -3 - tonumber(v) end
redis.call('HSET', KEYS[1], 'version', tonumber(ARGV[2]) + 1, 'blob', ARGV[3],
           'size', string.len(ARGV[3]), 'updated', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return tonumber(ARGV[2]) + 1
"""
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_META_FIELDS = ("owner", "version", "created", "updated", "size", "limits")


class RedisStore:
    """Sessions in Redis (shared by every copy pointed at it)."""

    def __init__(self, url: str, prefix: str = "eryx:") -> None:
        try:
            import redis
        except ImportError:
            raise StoreError("--store redis:// needs redis-py: pip install 'eryx[serve]'") \
                from None
        self._redis_mod = redis
        self.url = url
        self._p = prefix
        try:
            self._r = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2,
                                           retry_on_timeout=False, health_check_interval=0)
        except ValueError as exc:
            raise StoreError(f"--store {url!r}: {exc}") from None
        self._create = self._r.register_script(_CREATE)
        self._commit = self._r.register_script(_COMMIT)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)

    def _k(self, kind: str, sid: str) -> str:
        return f"{self._p}{kind}:{sid}"

    def _do(self, fn, *a):
        try:
            return fn(*a)
        except self._redis_mod.exceptions.ConnectionError as exc:
            raise StoreUnavailable(f"Redis at {self.url} is unreachable: {exc}") from None
        except self._redis_mod.exceptions.TimeoutError as exc:
            raise StoreUnavailable(f"Redis at {self.url} timed out: {exc}") from None
        except self._redis_mod.exceptions.BusyLoadingError as exc:
            raise StoreUnavailable(f"Redis at {self.url} is loading: {exc}") from None
        except self._redis_mod.exceptions.RedisError as exc:
            raise StoreError(f"Redis at {self.url}: {exc}") from None

    @staticmethod
    def _decode(raw: Dict[bytes, bytes], with_blob: bool) -> Optional[Dict[str, Any]]:
        if not raw:
            return None
        out: Dict[str, Any] = {}
        for k, v in raw.items():
            k = k.decode()
            if k == "blob":
                if with_blob:
                    out["blob"] = v
            elif k in ("version", "size"):
                out[k] = int(v)
            elif k in ("created", "updated"):
                out[k] = float(v)
            else:
                out[k] = v.decode()
        return out

    def ping(self) -> None:
        self._do(self._r.ping)

    def create(self, sid: str, meta: Dict[str, Any], ttl_ms: int) -> None:
        args = [ttl_ms]
        for k, v in dict(meta, version=0, size=0).items():
            args += [k, str(v)]
        if not self._do(self._create, [self._k("s", sid)], args):
            raise StoreError(f"session {sid!r} exists")

    def meta(self, sid: str) -> Optional[Dict[str, Any]]:
        raw = self._do(self._r.hmget, self._k("s", sid), *_META_FIELDS)
        if raw[1] is None:
            return None
        return self._decode({k.encode(): v for k, v in zip(_META_FIELDS, raw)
                             if v is not None}, False)

    def load(self, sid: str) -> Optional[Dict[str, Any]]:
        return self._decode(self._do(self._r.hgetall, self._k("s", sid)), True)

    def commit(self, sid: str, token: str, version: int, blob: bytes, ttl_ms: int) -> int:
        res = self._do(self._commit, [self._k("s", sid), self._k("l", sid)],
                       [str(token), version, bytes(blob), repr(time.time()), ttl_ms])
        if res == -1:
            raise LeaseLost(f"the lease on session {sid!r} expired before its step was "
                            f"committed")
        if res == -2:
            raise NoSuchSession(sid)
        if res <= -3:
            raise VersionConflict(f"session {sid!r} is at version {-3 - res}, not {version}")
        return int(res)

    def delete(self, sid: str) -> None:
        self._do(self._r.delete, self._k("s", sid))

    def count(self) -> int:
        def run():
            return sum(1 for _ in self._r.scan_iter(match=self._k("s", "*"), count=1000))
        return self._do(run)

    def lease_acquire(self, sid: str, px: int) -> Optional[str]:
        def run():
            # The counter orders tokens; the random part keeps them unique
            # even if Redis restarts with an older counter (or none).
            token = f"{int(self._r.incr(self._p + 'fence'))}-{secrets.token_hex(8)}"
            ok = self._r.set(self._k("l", sid), token, nx=True, px=px)
            return token if ok else None
        return self._do(run)

    def lease_renew(self, sid: str, token: str, px: int) -> bool:
        return bool(self._do(self._renew, [self._k("l", sid)], [str(token), px]))

    def lease_release(self, sid: str, token: str) -> None:
        self._do(self._release, [self._k("l", sid)], [str(token)])

    def close(self) -> None:
        try:
            self._r.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


def open_store(url: Optional[str]):
    """The store a --store URL names (None: the embedded one)."""
    if url is None or url in ("memory:", "memory"):
        return MemoryStore()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url)
    raise StoreError(f"--store {url!r}: want redis://HOST:PORT/DB (or none for the "
                     f"embedded store)")
