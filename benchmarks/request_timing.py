"""Benchmark: where each request's time goes in a full-year sync (waiting for a slot, the server, the body).

Runs `run_sync` in this process against a simulator subprocess (optionally with `--latency-ms`),
with the client's request limiter timed: for every request, how long it waited for one of the
`max_concurrent_requests` slots and for its start under `max_requests_per_second`, how long the
server took to answer (until the response headers, requests' `elapsed`) and how long its body took
to arrive. Printed per route, with when the route's
first request started and its last one ended, and how many slots were busy on average while the
sync read. This is what tells whether added latency is hidden (the slots are busy because the
server is slow to answer, and the latency overlaps other requests' serving) or paid (requests wait
for slots that are held by latency).

    python benchmarks/request_timing.py --destination postgres --latency-ms 100
    python benchmarks/request_timing.py --schools 3 --students-per-school 200 --destination duckdb
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_common import SimulatorProcess, add_size_args, postgres, print_table, workdir  # noqa: E402


class Timed(NamedTuple):
    """One request as the limiter saw it (monotonic seconds) and its response."""

    asked: float
    slot: float
    done: float
    server_s: float
    size: int
    route: str


def route_of(url: str) -> str:
    """The route's name without ids or dates: `schools/{sc}/attendance` -> `attendance`."""
    path = url.split("/api/v5/", 1)[-1].split("?", 1)[0].strip("/")
    parts = path.split("/")
    if parts[0] == "schools" and len(parts) >= 3:
        return parts[2]
    return parts[0]


@contextlib.contextmanager
def timed_limiter(records: List[Timed]) -> Iterator[None]:
    """Within the block, every request through a `RequestLimiter` is timed into `records` (this process only).

    The limiter's own `wrap` runs unchanged between the two clocks: `asked` before it, `slot` when
    it lets the request be sent (a slot held and its start allowed).
    """
    from aeries_source import limiter

    original = limiter.RequestLimiter.wrap
    lock = threading.Lock()
    asked_at = threading.local()

    def wrap(self: Any, send: Callable[..., Any], goes_first: Callable[[], bool] = lambda: False) -> Callable[..., Any]:
        def timed_send(*args: Any, **kwargs: Any) -> Any:
            slot = time.monotonic()
            response = send(*args, **kwargs)
            done = time.monotonic()
            with lock:
                records.append(Timed(asked_at.value, slot, done, response.elapsed.total_seconds(),
                                     len(response.content), route_of(response.request.url)))
            return response

        limited_send = original(self, timed_send, goes_first)

        def asked_send(*args: Any, **kwargs: Any) -> Any:
            asked_at.value = time.monotonic()
            return limited_send(*args, **kwargs)

        return asked_send

    limiter.RequestLimiter.wrap = wrap  # type: ignore[method-assign]
    try:
        yield
    finally:
        limiter.RequestLimiter.wrap = original  # type: ignore[method-assign]


def per_route(records: List[Timed]) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """Per-route figures (ms, kB, s from the first request) and the totals of the reading."""
    start = min(r.asked for r in records)
    end = max(r.done for r in records)
    routes: Dict[str, List[Timed]] = {}
    for r in records:
        routes.setdefault(r.route, []).append(r)
    rows = []
    for route, rs in sorted(routes.items(), key=lambda kv: min(r.asked for r in kv[1])):
        rows.append({
            "route": route, "requests": len(rs),
            "wait_ms": round(statistics.mean(r.slot - r.asked for r in rs) * 1000, 1),
            "server_ms": round(statistics.mean(r.server_s for r in rs) * 1000, 1),
            "body_ms": round(statistics.mean(r.done - r.slot - r.server_s for r in rs) * 1000, 1),
            "kB": round(statistics.mean(r.size for r in rs) / 1000, 1),
            "first_s": round(min(r.asked for r in rs) - start, 2), "last_s": round(max(r.done for r in rs) - start, 2),
        })
    held = sum(r.done - r.slot for r in records)
    totals = {"reading_s": round(end - start, 2), "slot_seconds": round(held, 2),
              "busy_slots": round(held / (end - start), 2) if end > start else 0.0}
    return rows, totals


def main() -> int:
    """Run one timed sync and print where its requests' time went."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(p)
    p.add_argument("--destination", choices=("duckdb", "postgres"), default="postgres")
    p.add_argument("--latency-ms", type=int, default=0, help="the simulator's added latency per response")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args()

    from aeries_sync.tuning import (
        arrow_default_pool_on_system_allocator,
        arrow_on_system_allocator,
        limit_malloc_arenas,
        return_freed_memory,
    )

    arrow_default_pool_on_system_allocator()  # as the command does, before pyarrow loads
    limit_malloc_arenas()  # as the command does, first thing
    return_freed_memory()
    arrow_on_system_allocator()

    from aeries_source.client import RetryPolicy
    from aeries_sync.options import sync_options
    from aeries_sync.runner import run_sync

    extra = ["--latency-ms", str(args.latency_ms)] if args.latency_ms else []
    sim = SimulatorProcess(args.schools, args.students_per_school, seed=args.seed, extra_args=extra)
    records: List[Timed] = []
    try:
        with workdir(args.keep, "request_timing_") as tmp:
            where = postgres(tmp) if args.destination == "postgres" else contextlib.nullcontext(("", ""))
            with where as (url, _), timed_limiter(records):
                options = sync_options(
                    base_url=sim.base_url, certificate=sim.certificate, destination=args.destination,
                    duckdb_path=str(tmp / "timing.duckdb"), postgres_credentials=url or None,
                    dataset_name="request_timing", pipeline_name="request_timing",
                    pipelines_dir=str(tmp / "pipelines"), retry=RetryPolicy())
                result = run_sync(options)
    finally:
        sim.stop()
    if result.exit_code != 0 or not records:
        print(f"sync {result.status}: {result.message}", file=sys.stderr)
        return 1
    rows, totals = per_route(records)
    print(f"{args.schools} schools x {args.students_per_school} students into {args.destination}, "
          f"latency {args.latency_ms} ms: {result.attendance_records:,} records in {result.seconds:.2f} s, "
          f"{result.requests} requests, {result.pipeline_runs} checkpoint(s)")
    print_table(["route", "requests", "slot and start wait ms", "server ms", "body ms", "kB", "first s", "last s"],
                [list(r.values()) for r in rows], title="Per route (means)")
    print(f"reading: {totals['reading_s']} s, slots held {totals['slot_seconds']} s, "
          f"{totals['busy_slots']} of the slots busy on average")
    if args.json_out:
        args.json_out.write_text(json.dumps({"seconds": result.seconds, "requests": result.requests,
                                             "latency_ms": args.latency_ms, "routes": rows, **totals}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
