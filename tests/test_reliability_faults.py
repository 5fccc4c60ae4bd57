"""Faults: every failure the simulator can inject, a revoked certificate mid-run, a dead school, a lost batch.

In-process syncs (`run_sync`) into the real Postgres, compared with the simulator's truth row for row.
The district is small and the school year is ten weeks old, cut into weekly batches, so each sync has
~33 batches over several checkpoints and runs in a few seconds.
"""

from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from reliability_helpers import TruthMismatch, assert_everything_matches, assert_no_duplicate_keys, sync_runs
from sync_truth import expected_attendance, loaded_attendance, query

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_simulator.faults import FaultKind
from aeries_source import resolve_configuration
from aeries_source.client import RetryPolicy
from aeries_sync.options import SyncOptions
from aeries_sync.runner import EXIT_CRITICAL, EXIT_OK, EXIT_PARTIAL, run_sync

# Seed 30: every school has attendance on the first school day.
SPEC = DistrictSpec(seed=30, schools=3, students_per_school=20, today=date(2024, 10, 25))
YEAR_START = date(2024, 8, 15)
NO_WAIT = {"backoff_factor": 0.0, "max_delay": 0.0, "jitter": 0.0}


@pytest.fixture
def district() -> Iterator[AeriesSimulator]:
    """A fresh small district (HANG faults hold a request 1.5 s; LATENCY adds 50 ms)."""
    simulator = AeriesSimulator(SPEC, fault_hang_seconds=1.5, fault_latency_seconds=0.05)
    simulator.start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        simulator.stop()


def _options(make_options: Any, sim: AeriesSimulator, **overrides: Any) -> SyncOptions:
    settings: Dict[str, Any] = {"batch_days": 7, "checkpoint_every": 5,
                                "retry": RetryPolicy(max_attempts=4, timeout=5.0, **NO_WAIT)}
    settings.update(overrides)
    return make_options(sim, "postgres", **settings)


def _by_school_day(rows: Any) -> Dict[Tuple[int, date], Set[Tuple[Any, ...]]]:
    out: Dict[Tuple[int, date], Set[Tuple[Any, ...]]] = defaultdict(set)
    for row in rows:
        out[(row[0], row[2])].add(row)
    return out


def assert_loaded_part_is_exact(sim: AeriesSimulator, options: SyncOptions,
                                complete_schools: Optional[List[int]] = None) -> int:
    """A partial load is consistent: no duplicates, every loaded school-day and every batch recorded
    'done' equals the truth, and `complete_schools` are complete. Returns the loaded rows."""
    expected = expected_attendance(sim, YEAR_START, sim.today)
    loaded = loaded_attendance(options, YEAR_START, sim.today)
    assert len(loaded) == len(set(loaded)), "duplicate attendance rows"
    assert set(loaded) <= expected, f"rows not in the truth: {sorted(set(loaded) - expected)[:5]}"
    truth_days, loaded_days = _by_school_day(expected), _by_school_day(loaded)
    for key, rows in loaded_days.items():
        assert rows == truth_days[key], f"school-day {key} loaded only in part"
    done = query(options, "SELECT DISTINCT b.school_code, b.batch_start, b.batch_end FROM {t:sync_batches} b "
                          "WHERE b.status = 'done'")
    for school, start, end in done:
        want = {r for r in expected if r[0] == int(school) and start <= r[2] <= end}
        got = {r for r in loaded if r[0] == int(school) and start <= r[2] <= end}
        assert got == want, f"batch {school} {start}..{end} recorded done but differs from the truth"
    for school in complete_schools or []:
        want = {r for r in expected if r[0] == school}
        got = {r for r in loaded if r[0] == school}
        assert got == want, f"school {school}: {len(want - got)} missing, {len(got - want)} extra"
    assert_no_duplicate_keys(options)
    return len(loaded)


# ----- (a) every fault kind at a steady rate ----------------------------------------------------------

# UNAUTHORIZED is left out: a 401 is critical by design and stops the run (see the next test).
TRANSIENT = [FaultKind.LATENCY, FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.BAD_GATEWAY,
             FaultKind.UNAVAILABLE, FaultKind.CONNECTION_RESET, FaultKind.HANG, FaultKind.MALFORMED_JSON,
             FaultKind.TRUNCATED_JSON]


def test_every_transient_fault_at_a_steady_rate_still_loads_exact_data(district, make_options):
    sim = district
    # A steady rate: each kind on ~4% of attendance requests (~30% faulted), plus each kind for sure
    # once early on (scripted), plus some on students and calendars.
    for n, kind in enumerate(TRANSIENT):
        probability = 0.02 if kind is FaultKind.HANG else 0.04
        sim.faults.add(kind, route="attendance", probability=probability, seed=100 + n)
    sim.faults.script("attendance", [k for kind in TRANSIENT for k in (kind, None)])
    sim.faults.script("students", [FaultKind.SERVER_ERROR, FaultKind.TRUNCATED_JSON, None, FaultKind.HANG])
    sim.faults.script("calendar", [FaultKind.RATE_LIMIT, FaultKind.MALFORMED_JSON, None, FaultKind.CONNECTION_RESET])
    sim.faults.add(FaultKind.BAD_GATEWAY, route="enrollment", probability=0.3, seed=7)
    sim.faults.add(FaultKind.UNAVAILABLE, route="absencecodes", probability=0.3, seed=8)

    options = _options(make_options, sim, retry=RetryPolicy(max_attempts=8, timeout=1.0, **NO_WAIT))
    result = run_sync(options)

    assert result.exit_code == EXIT_OK, (result.message, result.failed_batches, result.errors)
    assert not result.failed_batches and not result.skipped_schools
    statuses = {r.status for r in sim.request_log}
    assert {429, 500, 502, 503} <= statuses, statuses
    seen = set(result.errors)
    assert {"rate_limited", "server_error", "timeout", "connection_reset", "malformed_response"} <= seen, seen
    assert result.retries >= len(TRANSIENT) - 1 + 6, (result.retries, result.errors)
    assert result.retries == sum(result.errors.values()), "every retried failure is counted by class"

    rows = assert_everything_matches(sim, options, YEAR_START, sim.today)
    assert result.attendance_records == len(expected_attendance(sim, YEAR_START, sim.today))
    assert rows > 500
    runs = sync_runs(options)
    assert [r["status"] for r in runs] == ["done"]
    retried = query(options, "SELECT COUNT(*) FROM {t:sync_batches} WHERE requests > 1")
    assert int(retried[0][0]) > 0, "no batch records its retries"


# ----- (b) a revoked certificate mid-run -------------------------------------------------------------

@pytest.mark.parametrize(
    "school_codes, checkpoint_every, fault_at",
    [
        pytest.param([101], 2, 5, id="one-school"),
        # Two checkpoints of one batch each, then the 401: at least one school has read nothing yet
        # and must still be read from its first day by the rerun (regression: be1e1e3).
        pytest.param(None, 1, 3, id="three-schools"),
    ],
)
def test_401_mid_run_stops_with_exit_4_and_a_rerun_completes(district, make_options, school_codes,
                                                             checkpoint_every, fault_at):
    sim = district
    sim.faults.script("attendance", [None] * (fault_at - 1) + [FaultKind.UNAUTHORIZED])
    options = _options(make_options, sim, school_codes=school_codes, checkpoint_every=checkpoint_every)

    stopped = run_sync(options)
    assert stopped.exit_code == EXIT_CRITICAL, stopped.message
    assert stopped.status == "critical" and "401" in stopped.message
    attendance_requests = [r for r in sim.request_log if "/attendance" in r.path.lower()]
    assert len(attendance_requests) == fault_at, "the sync went on asking after a 401"
    loaded = assert_loaded_part_is_exact(sim, options)
    assert loaded > 0, "nothing committed before the 401: the test does not test a mid-run stop"
    runs = sync_runs(options)
    assert [r["status"] for r in runs] == ["critical"], runs
    assert runs[0]["finished_at"] is not None

    sim.faults.clear()
    options.checkpoint_every = 10  # the rerun needs no small checkpoints: keep it quick
    rerun = run_sync(options)
    assert rerun.exit_code == EXIT_OK, rerun.message
    assert [r["status"] for r in sync_runs(options)] == ["critical", "done"]
    if school_codes:
        _assert_schools_exact(sim, options, school_codes)
    else:
        assert_everything_matches(sim, options, YEAR_START, sim.today)


def _assert_schools_exact(sim: AeriesSimulator, options: SyncOptions, schools: List[int]) -> None:
    expected = {r for r in expected_attendance(sim, YEAR_START, sim.today) if r[0] in schools}
    loaded = loaded_attendance(options, YEAR_START, sim.today)
    assert len(loaded) == len(set(loaded)), "duplicate attendance rows"
    missing, extra = expected - set(loaded), set(loaded) - expected
    if missing or extra:
        raise TruthMismatch(f"missing {sorted(missing)[:5]} extra {sorted(extra)[:5]}")
    assert_no_duplicate_keys(options)


# ----- (c) a school whose attendance always fails trips its breaker -----------------------------------

def test_breaker_skips_a_failing_school_and_the_next_run_reads_it(district, make_options):
    sim = district
    dead = 102
    sim.faults.add(FaultKind.UNAVAILABLE, route=f"attendance@{dead}", probability=1.0, seed=1)
    options = _options(make_options, sim)

    first = run_sync(options)
    assert first.exit_code == EXIT_PARTIAL, first.message
    assert first.skipped_schools == [dead]
    dead_batches = {u.number for u in first.plan.batches if u.school_code == dead}
    assert set(first.failed_batches) == dead_batches
    assert set(first.failed_batches.values()) <= {"server_error", "circuit_breaker_open"}
    assert "circuit_breaker_open" in first.failed_batches.values()
    dead_requests = [r for r in sim.request_log if f"/schools/{dead}/attendance" in r.path.lower()]
    # The breaker opens after `breaker_threshold` consecutive failed requests (a failed batch counts
    # all its attempts): the school's other batches are never asked for.
    attempts = options.request_max_attempts
    threshold = resolve_configuration(**options.source).breaker_threshold  # as configured, default 10
    assert len(dead_requests) == -(-threshold // attempts) * attempts, len(dead_requests)
    assert_loaded_part_is_exact(sim, options, complete_schools=[sc for sc in sim.school_codes() if sc != dead])
    left = query(options, f"SELECT COUNT(*) FROM {{t:attendance_records}} WHERE school_code = {dead}")
    assert int(left[0][0]) == 0
    runs = sync_runs(options)
    assert [r["status"] for r in runs] == ["partial"]

    sim.faults.clear()
    second = run_sync(options)
    assert second.exit_code == EXIT_OK, second.message
    assert not second.failed_batches and not second.skipped_schools
    assert _days(second.plan.batches, dead) >= _days(first.plan.batches, dead), "skipped chunks not re-read"
    assert_everything_matches(sim, options, YEAR_START, sim.today)


def _days(batches: Any, school: int) -> Set[date]:
    days: Set[date] = set()
    for batch in batches:
        if batch.school_code == school:
            days |= {date.fromordinal(n) for n in range(batch.start.toordinal(), batch.end.toordinal() + 1)}
    return days


# ----- (d) one batch fails after its retries; the next run (no dates) picks it up --------------------

def _lose_third_batch_of_103(sim: AeriesSimulator, options: SyncOptions) -> None:
    """School 103's third batch fails on every attempt; everything else succeeds."""
    sim.faults.script("attendance@103", [None, None] + [FaultKind.SERVER_ERROR] * options.request_max_attempts)


def test_a_batch_failing_after_retries_gives_exit_3_and_the_next_run_completes(district, make_options):
    sim = district
    options = _options(make_options, sim)
    _lose_third_batch_of_103(sim, options)

    first = run_sync(options)
    assert first.exit_code == EXIT_PARTIAL, first.message
    assert first.status == "partial"
    lost = [u for u in first.plan.batches if u.school_code == 103][2]
    assert first.failed_batches == {lost.number: "server_error"}
    assert first.skipped_schools == []
    assert_loaded_part_is_exact(sim, options, complete_schools=[101, 102])
    runs = sync_runs(options)
    assert [(r["status"], r["last_completed_batch"]) for r in runs] == [("partial", len(first.plan.batches))]

    second = run_sync(options)  # no date flags: a delta sync
    assert second.exit_code == EXIT_OK, second.message
    assert second.plan.mode == "delta"
    assert_everything_matches(sim, options, YEAR_START, sim.today)
    assert [r["status"] for r in sync_runs(options)] == ["partial", "done"]


class FailedBatchReread(AssertionError):
    """A batch recorded as failed in a sync was requested again by the same sync."""


def test_a_failed_batch_is_left_to_the_next_run(district, make_options):
    sim = district
    options = _options(make_options, sim)
    attempts = options.request_max_attempts
    _lose_third_batch_of_103(sim, options)

    first = run_sync(options)
    assert first.exit_code == EXIT_PARTIAL, first.message
    lost = [u for u in first.plan.batches if u.school_code == 103][2]
    assert first.failed_batches == {lost.number: "server_error"}
    asked = [r for r in sim.request_log if "/schools/103/attendance" in r.path.lower()
             and r.query.get("StartDate") == lost.start.strftime("%Y%m%d")]
    if len(asked) != attempts:
        raise FailedBatchReread(f"batch {lost.number} was requested {len(asked)} times in one sync "
                                f"({attempts} attempts expected), though the sync reports it failed")
    # What the sync reports agrees with the database: the batch is failed and its days are missing.
    batches = query(options, "SELECT status, error_class, requests FROM {t:sync_batches} "
                             f"WHERE batch = {lost.number}")
    assert [(s, e, int(n)) for s, e, n in batches] == [("failed", "server_error", attempts)]
    expected = {r for r in expected_attendance(sim, YEAR_START, sim.today) if r[0] == 103}
    loaded = {r for r in loaded_attendance(options, YEAR_START, sim.today) if r[0] == 103}
    assert expected - loaded, "the failed batch's days are in the database"
    assert all(lost.start <= r[2] <= lost.end for r in expected - loaded), "days outside the failed batch missing"

    second = run_sync(options)
    assert second.exit_code == EXIT_OK, second.message
    assert any(u.school_code == 103 and u.start <= lost.start and lost.end <= u.end for u in second.plan.batches) \
        or _days(second.plan.batches, 103) >= _days([lost], 103), "the next run does not re-read the failed batch"
    assert_everything_matches(sim, options, YEAR_START, sim.today)


def test_batches_overlapping_in_one_run_stage_each_school_day_once(district, make_options):
    """A failed window retried beside a requested range that starts inside it: both are read in one run.

    The run stages the overlapping school-days twice; the merge must still store each record once
    (dlt's deduplication on the primary key; without it the insert breaks the key constraint).
    """
    sim = district
    options = _options(make_options, sim)
    _lose_third_batch_of_103(sim, options)
    first = run_sync(options)
    assert first.exit_code == EXIT_PARTIAL, first.message
    lost = [u for u in first.plan.batches if u.school_code == 103][2]

    start = lost.start + timedelta(days=3)  # the requested range begins inside the failed window
    second = run_sync(_options(make_options, sim, start_date=start, end_date=sim.today,
                               checkpoint_every=None, checkpoint_seconds=0))
    assert second.exit_code == EXIT_OK, second.message
    assert second.pipeline_runs >= 1
    batches_103 = [u for u in second.plan.batches if u.school_code == 103]
    assert any(u.start == lost.start and u.end == lost.end for u in batches_103), "the failed window is not retried"
    assert any(u.start == start for u in batches_103), "the requested range does not start inside it"
    assert_everything_matches(sim, options, YEAR_START, sim.today)
