"""Benchmark: how fast the simulator serves a large district's full-year attendance in 30-day windows."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Tuple

import orjson
import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sync_common import vm_hwm  # noqa: E402  (this folder is on the path when run as a script)

from aeries_source.batching import date_batches  # noqa: E402  (after the path is set)


def district_layout(base: str, cert: str) -> Tuple[List[int], List[Dict[str, Any]], List[date]]:
    """(reported school codes, the first school's calendar rows, its taught days) of a simulator at `base`/api/v5."""
    headers = {"AERIES-CERT": cert}
    schools = [s["SchoolCode"] for s in requests.get(f"{base}/schools", headers=headers, timeout=30).json()
               if s["InactiveStatusCode"] == "" and not s["DoNotReport"]]
    calendar = requests.get(f"{base}/schools/{schools[0]}/calendar", headers=headers, timeout=30).json()
    taught = [date.fromisoformat(r["CalendarDate"][:10]) for r in calendar if r["HolidayCode"] == ""]
    return schools, calendar, taught


def year_bounds(calendar: List[Dict[str, Any]]) -> Tuple[date, date]:
    """First and last calendar date of a school's calendar rows."""
    return date.fromisoformat(calendar[0]["CalendarDate"][:10]), date.fromisoformat(calendar[-1]["CalendarDate"][:10])


def enrolled_student_days(base: str, cert: str, schools: List[int], taught: List[date]) -> int:
    """Student-days covered by enrolment over the taught days (informational)."""
    headers = {"AERIES-CERT": cert}
    student_days = 0
    for code in schools:
        for s in requests.get(f"{base}/schools/{code}/students", headers=headers, timeout=60).json():
            enter = date.fromisoformat(s["SchoolEnterDate"][:10])
            leave = date.fromisoformat(s["SchoolLeaveDate"][:10]) if s["SchoolLeaveDate"] else date.max
            student_days += sum(1 for d in taught if enter <= d <= leave)
    return student_days


def serve_full_year(base: str, cert: str, pid: int, schools: List[int], calendar: List[Dict[str, Any]],
                    clients: int = 4, window_days: int = 30) -> Dict[str, Any]:
    """Fetch every school's full-year attendance in `window_days` windows with `clients` threads.

    `base` is the simulator's BASE_URL/api/v5, `pid` its process (sampled for RSS and CPU). Returns
    requests, seconds, records (attendance days), classes, megabytes, simulator CPU seconds, peak RSS.
    """
    headers = {"AERIES-CERT": cert}
    first, last = year_bounds(calendar)
    jobs = [(code, a, b) for code in schools for a, b in date_batches(first, last, window_days)]
    local = threading.local()
    peak = [0]

    def fetch(job: tuple[int, date, date]) -> tuple[int, int, int]:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        code, a, b = job
        response = session.get(f"{base}/schools/{code}/attendance",
                               params={"StartDate": a.strftime("%Y%m%d"), "EndDate": b.strftime("%Y%m%d")},
                               headers=headers, timeout=120)
        response.raise_for_status()
        body = orjson.loads(response.content)
        days = sum(len(s["AttendanceDays"]) for s in body)
        classes = sum(len(d["Classes"]) for s in body for d in s["AttendanceDays"])
        return days, classes, len(response.content)

    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], psutil.Process(pid).memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_before = psutil.Process(pid).cpu_times()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(fetch, jobs))
    seconds = time.perf_counter() - started
    cpu_after = psutil.Process(pid).cpu_times()
    stop.set()
    sampler.join()
    records = sum(r[0] for r in results)
    return {
        "requests": len(jobs), "seconds": seconds, "records": records, "records_per_s": records / seconds,
        "classes": sum(r[1] for r in results), "megabytes": sum(r[2] for r in results) / 1e6,
        "cpu": (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system), "peak_rss": peak[0],
    }


def main() -> int:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--schools", type=int, default=20)
    p.add_argument("--students-per-school", type=int, default=2000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--window-days", type=int, default=30)
    args = p.parse_args()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "aeries_simulator", "--port", "0", "--schools", str(args.schools),
                             "--students-per-school", str(args.students_per_school)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        found = re.search(r"serving (\S+) certificate=(\S+)", proc.stdout.readline())
        assert found, "simulator did not start"
        base, cert = found.group(1) + "/api/v5", found.group(2)
        rss_idle = psutil.Process(proc.pid).memory_info().rss
        schools, calendar, taught = district_layout(base, cert)
        student_days = enrolled_student_days(base, cert, schools, taught)
        r = serve_full_year(base, cert, proc.pid, schools, calendar, args.clients, args.window_days)
        seconds, records, classes = r["seconds"], r["records"], r["classes"]
        print(f"district: {len(schools)} schools x {args.students_per_school} students, "
              f"{len(taught)} school days, {args.clients} clients, {args.window_days}-day windows")
        print(f"requests: {r['requests']}  seconds: {seconds:.2f}  requests/s: {r['requests'] / seconds:.1f}")
        print(f"attendance day records: {records}  ({records / seconds:,.0f} records/s)")
        print(f"class (period) rows: {classes}  ({classes / seconds:,.0f} rows/s)")
        print(f"enrolled student-days covered: {student_days}  ({student_days / seconds:,.0f} student-days/s)")
        print(f"bytes served: {r['megabytes']:.1f} MB  simulator CPU: {r['cpu']:.2f} s")
        high_water = vm_hwm(proc.pid) or psutil.Process(proc.pid).memory_info().rss
        print(f"simulator RSS: idle {rss_idle / 2**20:.1f} MiB, peak during run {r['peak_rss'] / 2**20:.1f} MiB, "
              f"process high-water mark {high_water / 2**20:.1f} MiB")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
