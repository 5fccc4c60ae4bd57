"""A plain dlt `rest_api` configuration of Aeries' school-wide attendance route: the benchmark's peer.

Written the way a dlt user would after reading dlt's REST API source docs: a `rest_api_source` with the
certificate as an `AERIES-CERT` header (api_key auth), no paginator (the route returns a bare list),
a small dlt resource `windows` yielding 30-day windows of the school year, and one resource per school
(`attendance_<code>`) whose `StartDate`/`EndDate` query params reference each window
(`{resources.windows.start}`). Each school's rows
(students with their nested `AttendanceDays` and `Classes`, which dlt unnests into child tables) are
merged on (StudentID, window start). Destination defaults (file format, compression, workers) are dlt's.

    python benchmarks/peers/aeries_rest_api.py '<json: base_url, certificate, schools, start, end,
        destination, dataset, pipeline_name, pipelines_dir, duckdb_path | postgres_credentials>'

prints one `RESULT {...}` JSON line (rows per table, attendance days loaded, seconds, peak RSS).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date, timedelta
from typing import Any, Dict, Iterator, List

import dlt
from dlt.sources.rest_api import rest_api_source


@dlt.resource(selected=False)
def windows(start: date, end: date, days: int = 30) -> Iterator[List[Dict[str, Any]]]:
    """Date windows [start, start + days - 1] covering start..end, as YYYYMMDD strings (one page, as
    rest_api's dependent resources expect pages of parent items)."""
    page = []
    lo = start
    while lo <= end:
        hi = min(lo + timedelta(days=days - 1), end)
        page.append({"start": lo.strftime("%Y%m%d"), "end": hi.strftime("%Y%m%d")})
        lo = hi + timedelta(days=1)
    yield page


def aeries_attendance(base_url: str, certificate: str, schools: List[int], start: date, end: date,
                      window_days: int = 30) -> Any:
    """The rest_api source: one attendance resource per school over the windows of start..end."""
    date_windows = windows(start, end, window_days)
    resources: List[Any] = [date_windows]
    for code in schools:
        resources.append({
            "name": f"attendance_{code}",
            "endpoint": {
                "path": f"schools/{code}/attendance/",
                "params": {
                    "StartDate": "{resources.windows.start}",
                    "EndDate": "{resources.windows.end}",
                },
            },
            "include_from_parent": ["start"],
        })
    return rest_api_source({
        "client": {
            "base_url": base_url.rstrip("/") + "/api/v5/",
            "auth": {"type": "api_key", "name": "AERIES-CERT", "api_key": certificate, "location": "header"},
            "paginator": "single_page",
        },
        "resource_defaults": {
            "write_disposition": "merge",
            "primary_key": ["StudentID", "_windows_start"],
        },
        "resources": resources,
    })


def main(raw: str) -> int:
    """Run the peer pipeline once and print its RESULT line."""
    cfg = json.loads(raw)
    if cfg["destination"] == "duckdb":
        destination: Any = dlt.destinations.duckdb(cfg["duckdb_path"])
    else:
        destination = dlt.destinations.postgres(cfg["postgres_credentials"])
    pipeline = dlt.pipeline(pipeline_name=cfg["pipeline_name"], pipelines_dir=cfg["pipelines_dir"],
                            destination=destination, dataset_name=cfg["dataset"])
    source = aeries_attendance(cfg["base_url"], cfg["certificate"], cfg["schools"],
                               date.fromisoformat(cfg["start"]), date.fromisoformat(cfg["end"]),
                               cfg.get("window_days", 30))
    started = time.perf_counter()
    info = pipeline.run(source)
    seconds = time.perf_counter() - started
    counts: Dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in sorted(pipeline.default_schema.data_table_names()):
            qualified = client.make_qualified_table_name(table)
            counts[table] = int(client.execute_sql(f"SELECT count(*) FROM {qualified}")[0][0])
    days = sum(n for t, n in counts.items() if t.endswith("__attendance_days"))
    out = {
        "seconds": seconds, "attendance_records": days, "table_counts": counts,
        "has_failed_jobs": info.has_failed_jobs,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
