"""`eryx serve --http HOST:PORT`: an HTTP API running Python in Eryx
sandboxes, sessions shared by every copy pointed at one store.

Design:
- This package is Python only, a layer over eryx.Session / eryx.Sandbox
  (the C library does the sandboxing); one concept per module: store.py
  (sessions, snapshots, leases in memory or Redis), lease.py (holding a
  session's lease while working on it), app.py (the HTTP routes),
  metrics.py (Prometheus text), openapi.py (the API document).
- `eryx serve` without --http stays the stdio MCP server of
  eryx/mcp_server.py (cli.py decides). With --http this serves /v1 and
  mounts mcp_server's streamable-HTTP app at /mcp on the same port.
- Without --auth-tokens (or ERYX_SERVE_TOKENS) nobody is authenticated,
  so the server binds 127.0.0.1 whatever HOST says, and says so.
- Without --store the store is in this process (one copy, no Redis).
"""

import argparse
import os
import sys
from typing import List, Optional

from .. import cli

ENV_TOKENS = "ERYX_SERVE_TOKENS"


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return v


def build_parser(prog: str = "eryx serve") -> argparse.ArgumentParser:
    from ..mcp_server import _parse_hostport, _positive_int, _size
    p = cli._Parser(prog=prog, description="An HTTP API (/v1, and MCP at /mcp) running "
                    "Python in Eryx sandboxes. Without --http: the stdio MCP server.")
    p.add_argument("--http", type=_parse_hostport, metavar="HOST:PORT", required=True,
                   help="listen on HOST:PORT")
    p.add_argument("--store", metavar="URL", help="redis://HOST:PORT/DB shared by every "
                   "copy (default: in this process only)")
    p.add_argument("--auth-tokens", metavar="FILE", help="bearer tokens, one a line (or "
                   f"${ENV_TOKENS}, comma-separated); without: 127.0.0.1 only")
    g = p.add_argument_group("limits")
    g.add_argument("--timeout", type=cli._positive_ms, default=30000, metavar="MS",
                   help="longest execution, ms (default 30000); requests may lower it")
    g.add_argument("--max-memory", type=cli.parse_bytes, default=128 << 20, metavar="BYTES",
                   help="memory of each sandbox (default 128M); requests may lower it")
    g.add_argument("--max-body-bytes", type=_size, default=1 << 20, metavar="BYTES",
                   help="largest request body (default 1M): 413 above")
    g.add_argument("--max-session-bytes", type=_size, default=32 << 20, metavar="BYTES",
                   help="largest session snapshot (default 32M): the step is not "
                        "committed above")
    g.add_argument("--max-file-bytes", type=_size, default=16 << 20, metavar="BYTES",
                   help="quota of each session's /data (default 16M)")
    g.add_argument("--session-ttl", type=_seconds, default=3600.0, metavar="SECONDS",
                   help="a session untouched this long expires (default 3600)")
    g.add_argument("--lease-ms", type=_positive_int, default=10000, metavar="MS",
                   help="a session lease's time, renewed while running (default 10000)")
    g.add_argument("--busy-wait", type=_seconds, default=30.0, metavar="SECONDS",
                   help="wait this long for a busy session, then 409 (default 30; "
                        "0: 409 at once)")
    g.add_argument("--max-live", type=_positive_int, default=64, metavar="N",
                   help="sessions held live in this copy (default 64; others restored "
                        "from the store when used)")
    g.add_argument("--pool-size", type=_positive_int, default=4, metavar="N",
                   help="sandboxes for one-off executions (default 4)")
    g.add_argument("--workers", type=_positive_int, default=16, metavar="N",
                   help="threads executing code (default 16)")
    g = p.add_argument_group("what code may use")
    g.add_argument("--allow-host", action="append", default=[], metavar="PATTERN",
                   help="hosts one-off executions asking network:true may reach")
    g.add_argument("--package", action="append", default=[], metavar="PATH",
                   help="a .whl/.tar.gz/directory one-offs may ask for by file name")
    g.add_argument("--no-mcp", action="store_true", help="do not mount MCP at /mcp")
    return p


def read_tokens(path: Optional[str]) -> List[str]:
    tokens: List[str] = []
    if path:
        with open(path, encoding="utf-8") as f:
            tokens += [t.strip() for t in f if t.strip() and not t.startswith("#")]
        if not tokens:
            raise ValueError(f"--auth-tokens {path}: no tokens in it")
    env = os.environ.get(ENV_TOKENS, "")
    tokens += [t.strip() for t in env.split(",") if t.strip()]
    return tokens


def main(argv: Optional[List[str]] = None, prog: str = "eryx serve") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        import uvicorn
        import starlette  # noqa: F401
    except ImportError:
        print("eryx serve --http needs starlette and uvicorn: pip install 'eryx[serve]'",
              file=sys.stderr)
        return cli.EXIT_USAGE
    try:
        args.tokens = read_tokens(args.auth_tokens)
    except (OSError, ValueError) as exc:
        print(f"eryx serve: {exc}", file=sys.stderr)
        return cli.EXIT_USAGE
    host, port = args.http
    if not args.tokens and not cli._is_loopback(host):
        print(f"eryx serve: no --auth-tokens (or ${ENV_TOKENS}): listening on 127.0.0.1 "
              f"only, not {host}", file=sys.stderr)
        host = "127.0.0.1"
    from .app import Service, build_app
    from .store import StoreError, open_store
    try:
        store = open_store(args.store)
    except StoreError as exc:
        print(f"eryx serve: {exc}", file=sys.stderr)
        return cli.EXIT_USAGE
    service = Service(args, store)
    mcp_app = None
    if not args.no_mcp:
        try:
            from ..mcp_server import build_parser as mcp_parser, build_server
            margs = mcp_parser().parse_args(["--timeout", str(args.timeout)])
            mcp_app = build_server(margs).streamable_http_app(host=host)
        except ImportError:
            print("eryx serve: the MCP SDK is not installed: no /mcp", file=sys.stderr)
    app = build_app(service, mcp_app)
    print(f"eryx serve: http://{host}:{port}/v1 (store: {store.url}"
          f"{', auth: bearer tokens' if args.tokens else ', no auth'}"
          f"{', MCP at /mcp' if mcp_app is not None else ''})", file=sys.stderr, flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        store.close()
    return cli.EXIT_OK
