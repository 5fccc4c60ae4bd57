"""Benchmark: full load, no-change delta and a "day of changes" delta on Postgres (or DuckDB).

The simulator runs in this process (its change API is used between syncs); each sync runs
`run_sync` in a worker process against it. Steps:

  (a) full load of the school year up to the simulator's today;
  (b) the same sync again, no date flags, same clock, nothing changed (delta);
  (c) `advance_clock(days=1)` plus a day's worth of corrections (1 % of the last two weeks'
      absences cleared or excused, period codes added, enrollments, withdrawals, one month
      locked), then a delta sync.

Requests are counted from the simulator's request log. After (a) and (c) the attendance rows in the
destination are compared with the simulator's truth.

    python benchmarks/sync_delta.py                                   # large district, today = after year end
    python benchmarks/sync_delta.py --today 2025-03-10                # delta window mid-year
    python benchmarks/sync_delta.py --schools 3 --students-per-school 200
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import uuid
from collections import Counter
from contextlib import nullcontext
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_common import (  # noqa: E402
    add_size_args,
    drop_dataset,
    mib,
    postgres,
    print_table,
    run_worker,
    workdir,
    worker_options,
)

from aeries_simulator import AeriesSimulator, DistrictSpec  # noqa: E402

ABSENCE_TYPES = (1, 2, 3)


def _codes(sim: AeriesSimulator, sc: int) -> Dict[str, int]:
    return {c["AbsenceCode"]: int(c["TypeCode"]) for c in sim.truth_absence_codes(sc)}


def _is_absence(row: Dict[str, Any], types: Dict[str, int]) -> bool:
    codes = [row["all_day_code"]] + [c["code"] for c in row["classes"]]
    return any(types.get(c or "") in ABSENCE_TYPES for c in codes)


def _school_days(sim: AeriesSimulator, sc: int, first: date, last: date) -> List[date]:
    days = []
    for c in sim.truth_calendar(sc):
        d = date.fromisoformat(c["CalendarDate"][:10])
        if first <= d <= last and not c["HolidayCode"]:
            days.append(d)
    return days


def _active_students(sim: AeriesSimulator, sc: int) -> List[Dict[str, Any]]:
    return [s for s in sim.truth_students(sc) if not s.get("SchoolLeaveDate") and not s.get("InactiveStatusCode")]


def apply_day_of_changes(sim: AeriesSimulator, args: argparse.Namespace) -> Counter:
    """Advance the clock one day and make a realistic day's corrections; return what was changed."""
    rng = random.Random(args.seed * 7919)
    done: Counter = Counter()
    sim.advance_clock(days=1)
    today = sim.today
    first = max(sim.spec.first_day, today - timedelta(days=13))
    schools = sim.school_codes()

    # 1 % of the last two weeks' absences: half cleared (was present), half excused (note arrived).
    absences = []
    for sc in schools:
        types = _codes(sim, sc)
        absences += [r for r in sim.truth_attendance(sc, first, today) if _is_absence(r, types)]
    done["absences in last 2 weeks"] = len(absences)
    picked = rng.sample(absences, max(1, round(len(absences) * args.correct_fraction))) if absences else []
    for n, r in enumerate(picked):
        if n % 2 == 0:
            sim.clear_absence(r["school_code"], r["student_id"], r["date"])
            done["absences cleared"] += 1
        else:
            sim.excuse_absence(r["school_code"], r["student_id"], r["date"])
            done["absences excused"] += 1

    # Period codes added (a teacher submits a late period): period schools only, last week.
    period_schools = [sc for sc in schools if sim.school_periods(sc)]
    for _ in range(args.period_codes if period_schools else 0):
        sc = rng.choice(period_schools)
        days = _school_days(sim, sc, max(sim.spec.first_day, today - timedelta(days=6)), today)
        students = _active_students(sim, sc)
        if not days or not students:
            continue
        types = _codes(sim, sc)
        code = next((c for c, t in types.items() if t == 5), None) or next(c for c, t in types.items() if t == 1)
        sim.add_period_code(sc, rng.choice(students)["StudentID"], rng.choice(days),
                            rng.choice(sim.school_periods(sc)), code)
        done["period codes added"] += 1

    # Enrollments today, withdrawals backdated two days.
    for n in range(args.enrollments):
        sc = schools[n % len(schools)]
        grade = int(rng.choice(_active_students(sim, sc))["Grade"])
        sim.enroll_student(sc, grade, today)
        done["students enrolled"] += 1
    for n in range(args.withdrawals):
        sc = schools[(n * 3) % len(schools)]
        leave = max(sim.spec.first_day, today - timedelta(days=2))
        # Not one of the students enrolled just now: a leave date before the enter date is refused.
        enrolled_before = [s for s in _active_students(sim, sc) if s["SchoolEnterDate"][:10] <= leave.isoformat()]
        student = rng.choice(enrolled_before)
        sim.withdraw_student(sc, student["StudentID"], leave)
        done["students withdrawn"] += 1

    # The district reconciles and locks the earliest unlocked month of one school, if it is complete.
    if args.lock_month:
        sc = schools[0]
        calendar = sim.truth_calendar(sc)
        open_days = [c for c in calendar if not c["AttendanceMonthLocked"]]
        if open_days:
            month = open_days[0]["AttendanceMonth"]
            last = max(date.fromisoformat(c["CalendarDate"][:10]) for c in calendar if c["AttendanceMonth"] == month)
            if last < today:
                sim.lock_month(sc, month)
                done[f"month {month} locked at school {sc}"] += 1
    return done


def truth_counts(sim: AeriesSimulator) -> Dict[str, int]:
    """Sparse student-days the simulator holds per school for the school year up to its today."""
    last = min(sim.spec.last_day, sim.today)
    return {str(sc): len(sim.truth_attendance(sc, sim.spec.first_day, last)) for sc in sim.school_codes()}


def _route(path: str) -> str:
    return re.sub(r"/\d+", "/N", path.split("/api/v5", 1)[-1])


def main() -> int:
    """Run the benchmark and print its figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(p)
    p.add_argument("--destination", choices=("postgres", "duckdb"), default="postgres")
    p.add_argument("--today", type=date.fromisoformat, default=None,
                   help="simulator clock date (YYYY-MM-DD); default the day after the last school day")
    p.add_argument("--correct-fraction", type=float, default=0.01,
                   help="share of the last two weeks' absences corrected in (c) (default 0.01)")
    p.add_argument("--period-codes", type=int, default=10, help="period codes added in (c) (default 10)")
    p.add_argument("--enrollments", type=int, default=20, help="students enrolled in (c) (default 20)")
    p.add_argument("--withdrawals", type=int, default=5, help="students withdrawn in (c) (default 5)")
    p.add_argument("--no-lock-month", dest="lock_month", action="store_false",
                   help="do not lock a month in (c)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip comparing destination attendance rows with the simulator's truth")
    args = p.parse_args()

    spec = DistrictSpec(seed=args.seed, schools=args.schools, students_per_school=args.students_per_school,
                        today=args.today)
    sim = AeriesSimulator(spec).start()
    steps: Dict[str, Dict[str, Any]] = {}
    changes: Counter = Counter()
    try:
        with workdir(args.keep, "sync_delta_") as tmp:
            with (postgres(tmp) if args.destination == "postgres" else nullcontext()) as pg:
                url: Optional[str] = pg[0] if pg else None
                if pg:
                    print(f"postgres: {pg[1]}")
                dataset = f"bench_{uuid.uuid4().hex[:8]}"
                opts = worker_options(sim.base_url, sim.certificate, args.destination, tmp / "dest",
                                      dataset=dataset, pipeline_name="delta_bench", postgres_credentials=url)
                try:
                    for step in ("a", "b", "c"):
                        if step == "c":
                            t0 = time.perf_counter()
                            changes = apply_day_of_changes(sim, args)
                            print(f"(c) changes applied in {time.perf_counter() - t0:.1f} s: "
                                  + ", ".join(f"{k} {v}" for k, v in changes.items()), flush=True)
                        sim.clear_request_log()
                        r = run_worker(opts)
                        log = sim.request_log
                        r["sim_requests"] = len(log)
                        r["sim_attendance_requests"] = sum(1 for x in log if "/attendance" in x.path)
                        r["today"] = sim.today
                        r["routes"] = Counter(_route(x.path) for x in log)
                        if args.verify and step in ("a", "c"):
                            r["truth_by_school"] = truth_counts(sim)
                            r["truth"] = sum(r["truth_by_school"].values())
                        steps[step] = r
                        print(f"({step}) {r['status']} (exit {r['exit_code']}) {r['seconds']:.2f} s "
                              f"{r['message']}".rstrip(), flush=True)
                        if r["exit_code"] != 0:
                            print(r["stderr_tail"], file=sys.stderr)
                finally:
                    if url and not args.keep:
                        drop_dataset(url, dataset)
    finally:
        sim.stop()

    names = {"a": "(a) full load", "b": "(b) no-change delta", "c": "(c) day of changes"}
    print()
    print(f"district: {args.schools} schools x {args.students_per_school} students (seed {args.seed}), "
          f"destination {args.destination}, simulator in-process, syncs in a worker process")
    rows: List[List[Any]] = []
    metrics = [
        ("simulator today", lambda r: r["today"]),
        ("plan mode", lambda r: r["plan_mode"]),
        ("batches", lambda r: r["plan_batches"]),
        ("seconds (run_sync)", lambda r: r["seconds"]),
        ("requests (simulator log)", lambda r: r["sim_requests"]),
        ("  attendance requests", lambda r: r["sim_attendance_requests"]),
        ("requests (client count)", lambda r: r["requests"]),
        ("attendance records read", lambda r: r["attendance_records"]),
        ("records/s", lambda r: r["records_per_second"]),
        ("pipeline runs", lambda r: r["pipeline_runs"]),
        ("peak RSS MiB", lambda r: mib(r["peak_rss"])),
        ("attendance rows in destination", lambda r: r.get("table_counts", {}).get("attendance_records", "-")),
        ("simulator truth rows", lambda r: r.get("truth", "-")),
    ]
    order = [s for s in ("a", "b", "c") if s in steps]
    for name, get in metrics:
        rows.append([name, *(get(steps[s]) for s in order)])
    print_table(["", *(names[s] for s in order)], rows, title="Full load vs delta syncs")
    if changes:
        print("(c) changes: " + ", ".join(f"{k} {v}" for k, v in changes.items()))
        print()

    schools = sorted({w["school_code"] for s in order for w in steps[s]["windows"]})
    rows = []
    for sc in schools:
        row: List[Any] = [sc]
        for s in order:
            ws = [w for w in steps[s]["windows"] if w["school_code"] == sc]
            row.append("; ".join(f"{w['start']}..{w['end']} ({w['reason']})" for w in ws) or "-")
        rows.append(row)
    print_table(["school", *(names[s] for s in order)], rows, title="Per-school windows (result.plan.ranges)")
    routes = sorted({k for s in order for k in steps[s]["routes"]})
    print_table(["route (simulator log)", *(names[s] for s in order)],
                [[k, *(steps[s]["routes"].get(k, 0) for s in order)] for k in routes], title="Requests by route")

    mismatches = []
    for s in order:
        if "truth_by_school" not in steps[s]:
            continue
        loaded = steps[s].get("table_counts", {}).get("attendance_by_school", {})
        for sc, n in sorted(steps[s]["truth_by_school"].items()):
            if loaded.get(sc, 0) != n:
                mismatches.append((names[s], sc, loaded.get(sc, 0), n))
    if mismatches:
        print("WARNING: destination attendance rows differ from the simulator's truth:")
        for name, sc, got, want in mismatches:
            print(f"  after {name}: school {sc}: {got} rows loaded, truth {want} ({got - want:+d})")
        if args.lock_month and changes:
            print("  (c) locked a month at one school after correcting it: a delta starting at the first "
                  "unlocked month misses edits made to a month locked between two syncs; rerun with "
                  "--no-lock-month to compare)")
    else:
        print("attendance rows in the destination match the simulator's truth per school"
              + (" after (a) and (c)" if args.verify else " (not checked: --no-verify)"))
    return 0 if all(steps[s]["exit_code"] == 0 for s in order) and not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
