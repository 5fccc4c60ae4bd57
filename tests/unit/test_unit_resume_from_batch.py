"""Unit tests of `--resume-from-batch`: skipped batches are remembered, planned again and reported."""

from datetime import date
from typing import Any, Dict

import pytest

from aeries_source.attendance import _covered, _forget_read_skips, _read_by_plan, _skip
from aeries_source.batching import date_batches
from aeries_source.calendar_index import CalendarIndex
from aeries_source.checkpoint import school_skipped_batches
from aeries_source.errors import AeriesConfigError
from aeries_source.planning import (
    RETRY_REASON,
    SKIPPED_REASON,
    Batch,
    SyncPlan,
    batch_ranges,
    build_plan,
    check_resume_from_batch,
)
from aeries_source.runtime import SyncRuntime

D = date
YEAR_START, YEAR_END, TODAY = D(2024, 8, 15), D(2025, 6, 12), D(2024, 12, 20)


def _plan(**kwargs: Any) -> SyncPlan:
    codes = [101, 102]
    calendars = {sc: CalendarIndex([]) for sc in codes}
    cursors = kwargs.pop("cursors", {101: D(2024, 12, 19), 102: D(2024, 12, 19)})
    return build_plan(codes, calendars, cursors, YEAR_START, YEAR_END, TODAY, 30, 14, **kwargs)


def _runtime(batches: int, resume_from_batch: int = 0) -> SyncRuntime:
    plan = SyncPlan("full", [], [Batch(n, 101, D(2024, 9, n), D(2024, 9, n)) for n in range(1, batches + 1)])
    return SyncRuntime(client=None, plan=plan, resume_from_batch=resume_from_batch)  # type: ignore[arg-type]


# -- planning ----------------------------------------------------------------------------------------
def test_skipped_windows_are_planned_again_with_their_reason() -> None:
    skipped = {101: [(D(2024, 8, 15), D(2024, 9, 13)), (D(2024, 9, 14), D(2024, 10, 13))]}
    plan = _plan(skipped_batch_dates=skipped)
    again = [(w.start, w.end) for w in plan.ranges if w.reason == SKIPPED_REASON]
    assert again == skipped[101]
    assert {w.school_code for w in plan.ranges if w.reason == SKIPPED_REASON} == {101}
    assert [(u.start, u.end) for u in plan.batches_for(101)][:2] == skipped[101]  # the lowest numbers


def test_a_skipped_window_inside_the_main_window_is_not_planned_twice() -> None:
    plan = _plan(cursors={101: None, 102: D(2024, 12, 19)},
                 skipped_batch_dates={101: [(D(2024, 8, 15), D(2024, 9, 13))]})
    assert [w.reason for w in plan.ranges_for(101)] == ["first load of the school year"]


def test_a_window_both_failed_and_skipped_is_planned_once() -> None:
    window = (D(2024, 8, 15), D(2024, 9, 13))
    plan = _plan(failed_batch_dates={101: [window]}, skipped_batch_dates={101: [window, window]})
    assert [w.reason for w in plan.ranges_for(101) if (w.start, w.end) == window] == [RETRY_REASON]


def test_skipped_windows_of_schools_outside_the_plan_are_ignored_and_explicit_plans_get_them() -> None:
    plan = _plan(skipped_batch_dates={999: [(D(2024, 8, 15), D(2024, 9, 13))]})
    assert {w.school_code for w in plan.ranges} == {101, 102}
    explicit = _plan(explicit_start=D(2024, 12, 1), explicit_end=D(2024, 12, 10),
                     skipped_batch_dates={102: [(D(2024, 8, 15), D(2024, 9, 13))]})
    assert [w.school_code for w in explicit.ranges if w.reason == SKIPPED_REASON] == [102]


@pytest.mark.parametrize("batches, resume", [(0, 0), (0, 1), (5, 0), (5, 1), (5, 5)])
def test_resume_numbers_within_the_plan_are_accepted(batches: int, resume: int) -> None:
    check_resume_from_batch(_runtime(batches).plan, resume)


@pytest.mark.parametrize("batches, resume", [(0, 2), (5, 6), (21, 99)])
def test_a_resume_number_beyond_the_plan_is_bad_input(batches: int, resume: int) -> None:
    with pytest.raises(AeriesConfigError) as raised:
        check_resume_from_batch(_runtime(batches).plan, resume)
    message = str(raised.value)
    assert f"{batches} batch(es)" in message and str(resume) in message and "\n" not in message


@pytest.mark.parametrize(
    "batches, text",
    [([], ""), ([4], "4"), ([1, 2, 3], "1-3"), ([9, 1, 2, 3, 7, 10], "1-3, 7, 9-10"), ([2, 2, 3], "2-3")],
)
def test_batch_ranges(batches: list, text: str) -> None:
    assert batch_ranges(batches) == text


# -- runtime and checkpoint --------------------------------------------------------------------------
def test_runtime_reports_skipped_batches_and_never_reads_them() -> None:
    runtime = _runtime(6, resume_from_batch=4)
    for batch in reversed(runtime.plan.batches[:3]):
        runtime.mark_skipped(batch)
    assert runtime.skipped_batches == [1, 2, 3]
    assert [u.number for u in runtime.pending_batches()] == [4, 5, 6]
    assert runtime.remaining == 3


def test_checkpoint_reads_skipped_windows_back() -> None:
    states = {"attendance_101": {"skipped_batches": [["2024-08-15", "2024-09-13"]]}}
    assert school_skipped_batches(states, 101) == [(D(2024, 8, 15), D(2024, 9, 13))]
    assert school_skipped_batches(states, 102) == []


# -- attendance state --------------------------------------------------------------------------------
def test_a_skipped_batch_nobody_read_is_remembered_and_reported() -> None:
    runtime = _runtime(3, resume_from_batch=3)
    state: Dict[str, Any] = {"skipped_batches": [["2024-08-15", "2024-08-20"]]}
    progress: set = set()
    batch = runtime.plan.batches[0]
    _skip(runtime, state, batch, (batch.start.isoformat(), batch.end.isoformat()), progress, set())
    assert state["skipped_batches"] == [("2024-08-15", "2024-08-20"), ("2024-09-01", "2024-09-01")]
    assert runtime.skipped_batches == [1] and runtime.done == set() and progress == set()


def test_a_skipped_batch_an_earlier_sync_of_the_plan_read_is_done_not_a_hole() -> None:
    runtime = _runtime(3, resume_from_batch=3)
    state: Dict[str, Any] = {}
    progress: set = set()
    batch = runtime.plan.batches[1]
    _skip(runtime, state, batch, (batch.start.isoformat(), batch.end.isoformat()), progress, {"2024-09-02"})
    assert "skipped_batches" not in state
    assert runtime.skipped_batches == [] and runtime.done == {2} and progress == {"2024-09-02"}


def test_read_by_plan_counts_a_finished_plan_but_not_another_plan() -> None:
    state = {"progress": {"key": "A", "done": ["2024-09-01", "2024-09-02"]}}
    assert _read_by_plan(state, "A") == {"2024-09-01", "2024-09-02"}
    assert _read_by_plan(state, "B") == set()
    assert _read_by_plan({}, "A") == set()


@pytest.mark.parametrize(
    "spans, covered",
    [
        pytest.param([(D(2024, 9, 1), D(2024, 9, 30))], True, id="one-span"),
        pytest.param([(D(2024, 8, 25), D(2024, 9, 10)), (D(2024, 9, 11), D(2024, 10, 5))], True, id="two-spans"),
        pytest.param([(D(2024, 9, 1), D(2024, 9, 10)), (D(2024, 9, 12), D(2024, 9, 30))], False, id="gap"),
        pytest.param([(D(2024, 9, 2), D(2024, 9, 30))], False, id="late-start"),
        pytest.param([(D(2024, 9, 1), D(2024, 9, 29))], False, id="early-end"),
        pytest.param([], False, id="nothing"),
    ],
)
def test_covered(spans: list, covered: bool) -> None:
    assert _covered(D(2024, 9, 1), D(2024, 9, 30), spans) is covered


def test_skipped_windows_are_forgotten_once_read_in_other_chunks() -> None:
    state: Dict[str, Any] = {"skipped_batches": [["2024-08-15", "2024-09-13"], ["2024-09-14", "2024-10-13"]]}
    # A later plan cut Aug 15..Sep 18 into 7-day chunks.
    batches = [Batch(n, 101, a, b) for n, (a, b) in enumerate(date_batches(D(2024, 8, 15), D(2024, 9, 18), 7), 1)]
    _forget_read_skips(state, batches, {u.start.isoformat() for u in batches[:-1]})  # the last chunk not read yet
    assert len(state["skipped_batches"]) == 2
    _forget_read_skips(state, batches, {u.start.isoformat() for u in batches})
    assert state["skipped_batches"] == [["2024-09-14", "2024-10-13"]]  # only partly read: kept
