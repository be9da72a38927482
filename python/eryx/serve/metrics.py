"""Prometheus text for `GET /metrics` of `eryx serve --http`.

Design: a few counters and one histogram kept in this process (each copy
reports its own; Prometheus sums across copies). No client library: the
text exposition format is small and this keeps the dependency list short.
Gauges (live sessions, pool stats) are read when scraped.
"""

import threading
from collections import defaultdict
from typing import Callable, Dict, List, Tuple

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.executions: Dict[str, int] = defaultdict(int)      # kind -> count
        self.errors: Dict[str, int] = defaultdict(int)          # error kind -> count
        self.http: Dict[Tuple[str, int], int] = defaultdict(int)
        self._hist: Dict[str, List[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sum: Dict[str, float] = defaultdict(float)
        self.gauges: List[Callable[[], List[str]]] = []

    def execution(self, kind: str, seconds: float, error_kind: str = "") -> None:
        with self._lock:
            self.executions[kind] += 1
            if error_kind:
                self.errors[error_kind] += 1
            h = self._hist[kind]
            for i, b in enumerate(BUCKETS):
                if seconds <= b:
                    h[i] += 1
            h[-1] += 1
            self._sum[kind] += seconds

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def response(self, route: str, status: int) -> None:
        with self._lock:
            self.http[(route, status)] += 1

    def render(self) -> str:
        out = ["# HELP eryx_executions_total Executions run, by kind (oneoff, session).",
               "# TYPE eryx_executions_total counter"]
        with self._lock:
            for k, v in sorted(self.executions.items()):
                out.append(f'eryx_executions_total{{kind="{k}"}} {v}')
            out += ["# HELP eryx_execution_duration_seconds Wall time of executions "
                    "(with restore, snapshot and commit for sessions).",
                    "# TYPE eryx_execution_duration_seconds histogram"]
            for k, h in sorted(self._hist.items()):
                for b, n in zip(BUCKETS, h):
                    out.append(f'eryx_execution_duration_seconds_bucket{{kind="{k}",le="{b}"}} {n}')
                out.append(f'eryx_execution_duration_seconds_bucket{{kind="{k}",le="+Inf"}} {h[-1]}')
                out.append(f'eryx_execution_duration_seconds_sum{{kind="{k}"}} {self._sum[k]:.6f}')
                out.append(f'eryx_execution_duration_seconds_count{{kind="{k}"}} {h[-1]}')
            out += ["# HELP eryx_errors_total Errors, by kind (guest exceptions, limits, "
                    "busy, store, request).", "# TYPE eryx_errors_total counter"]
            for k, v in sorted(self.errors.items()):
                out.append(f'eryx_errors_total{{kind="{k}"}} {v}')
            out += ["# HELP eryx_http_responses_total HTTP responses by route and status.",
                    "# TYPE eryx_http_responses_total counter"]
            for (r, s), v in sorted(self.http.items()):
                out.append(f'eryx_http_responses_total{{route="{r}",status="{s}"}} {v}')
        for g in self.gauges:
            out += g()
        return "\n".join(out) + "\n"
