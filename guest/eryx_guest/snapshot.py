"""Snapshots of a session's Python state, with dill.

Format (ASCII, so it crosses the WIT boundary as a string):
    ERYXSNAP <format> <python major.minor> <sha256 of body>\\n<base64 body>
where the body is zlib-compressed dill of {name: value} for the user's
variables. Functions and classes defined in the session are saved by value;
their globals are saved as a reference to "the session namespace", so after
a restore they see the restoring session's variables (dill's handling of
__main__, with our session module as __main__).

Values that cannot be serialized are never dropped silently: by default the
snapshot fails naming each one and why; `skip` leaves them out and reports
their names. A restore builds everything before touching the namespace, so
a corrupt, truncated or foreign snapshot leaves the session unchanged.
"""

import base64
import binascii
import hashlib
import io
import sys
import zlib

import dill

MAGIC = "ERYXSNAP"
FORMAT = 1
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


class SnapshotError(Exception):
    pass


def _dumps(obj, main):
    buf = io.BytesIO()
    pickler = dill.Pickler(buf, protocol=dill.HIGHEST_PROTOCOL, recurse=False)
    pickler._main = main
    pickler.dump(obj)
    return buf.getvalue()


def user_variables(namespace, bound):
    """The names a snapshot covers: not dunders, not what the runtime bound."""
    return {name: value for name, value in namespace.items()
            if not (name.startswith("__") and name.endswith("__"))
            and bound.get(name, _MISSING) is not value}


_MISSING = object()


def take(main, bound, skip):
    """Returns (snapshot text, skipped names)."""
    variables = user_variables(main.__dict__, bound)
    good, bad = {}, []
    for name, value in variables.items():
        try:
            _dumps(value, main)
            good[name] = value
        except Exception as exc:  # noqa: BLE001 - any failure means "can't"
            bad.append((name, f"{type(value).__name__}: {type(exc).__name__}: {exc}"))
    if bad and not skip:
        raise SnapshotError("cannot snapshot " + "; ".join(
            f"{name!r} ({why})" for name, why in bad))
    body = zlib.compress(_dumps(good, main), 6)
    digest = hashlib.sha256(body).hexdigest()
    header = f"{MAGIC} {FORMAT} {PY} {digest}\n"
    return header + base64.b64encode(body).decode("ascii"), [name for name, _ in bad]


def load(text, main):
    """Parses and unpickles a snapshot; returns the {name: value} dict."""
    header, sep, payload = text.partition("\n")
    parts = header.split(" ")
    if not sep or len(parts) != 4 or parts[0] != MAGIC:
        raise SnapshotError("not an Eryx snapshot")
    if parts[1] != str(FORMAT):
        raise SnapshotError(f"snapshot format {parts[1]} is not supported (this "
                            f"runtime reads format {FORMAT})")
    if parts[2] != PY:
        raise SnapshotError(f"snapshot was taken with Python {parts[2]}, this is {PY}")
    try:
        body = base64.b64decode(payload.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SnapshotError("snapshot is corrupted (bad encoding)") from None
    if hashlib.sha256(body).hexdigest() != parts[3]:
        raise SnapshotError("snapshot is corrupted or truncated (checksum mismatch)")
    try:
        unpickler = dill.Unpickler(io.BytesIO(zlib.decompress(body)))
        unpickler._main = main
        values = unpickler.load()
    except Exception as exc:  # noqa: BLE001
        raise SnapshotError(f"snapshot cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not isinstance(values, dict):
        raise SnapshotError("snapshot does not hold a namespace")
    return values
