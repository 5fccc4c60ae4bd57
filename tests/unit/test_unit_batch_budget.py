"""Unit tests of how many batches, or how long, one checkpoint reads before it commits."""

import time
from datetime import date, timedelta

from aeries_source.planning import Batch
from aeries_source.runtime import BatchBudget

START = date(2024, 9, 2)


def batches(schools: int, per_school: int) -> list[Batch]:
    """The plan's batches: numbered school by school, each school's chunks in date order."""
    out = []
    for s in range(schools):
        for n in range(per_school):
            first = START + timedelta(days=7 * n)
            out.append(Batch(number=len(out) + 1, school_code=101 + s, start=first, end=first + timedelta(days=6)))
    return out


def test_a_time_budget_stops_taking_after_its_seconds_but_never_before_the_first_batch() -> None:
    budget = BatchBudget(None, seconds=0.05)
    budget.assign(batches(2, 3))
    time.sleep(0.08)
    assert budget.take(101), "a run past its time still reads one batch, so every run makes progress"
    assert not budget.take(101) and not budget.take(102)

    budget.assign(batches(2, 3))  # the next run starts its own clock
    assert budget.take(101) and budget.take(102) and budget.take(101)


def test_without_a_time_budget_the_batch_quota_alone_decides() -> None:
    budget = BatchBudget(2, seconds=None)
    assert budget.assign(batches(3, 2)) == {101, 102}
    assert budget.take(101) and budget.take(102)
    assert not budget.take(101) and not budget.take(103)


def test_a_plain_pipeline_run_counts_batches_of_any_school() -> None:
    """No command assigns quotas in a plain pipeline: the limit counts whichever school reads."""
    budget = BatchBudget(3)
    budget.start_run()
    assert [budget.take(sc) for sc in (105, 105, 101, 102)] == [True, True, True, False]
    budget.start_run()
    assert budget.take(102)


def test_the_next_run_of_a_time_budget_is_previewed_as_each_schools_next_batch() -> None:
    plan = batches(3, 4)
    pending = [b for b in plan if b.number not in (1, 5)]  # school 101 and 102 read their first chunk
    preview = BatchBudget(None, seconds=10).preview(pending)
    assert [(b.school_code, b.number) for b in preview] == [(101, 2), (102, 6), (103, 9)]


def test_a_run_past_its_time_finishes_a_tail_of_at_most_half_of_what_it_took() -> None:
    assert BatchBudget.TAIL_SHARE == 0.5
    budget = BatchBudget(None, seconds=0.05)
    budget.assign(batches(2, 5))  # 10 batches pending
    assert all(budget.take(101 + n % 2) for n in range(7))
    time.sleep(0.08)
    assert all(budget.take(102) for _ in range(3)), "3 left after 7 taken: the tail is read in this run"
    assert not budget.take(101), "nothing is left of the run's batches: its time decides again"


def test_a_run_past_its_time_leaves_more_than_a_tail_to_the_next_run() -> None:
    budget = BatchBudget(None, seconds=0.05)
    budget.assign(batches(2, 5))
    assert all(budget.take(101 + n % 2) for n in range(6))
    time.sleep(0.08)
    assert not budget.take(101), "4 left after 6 taken is more than half: the next run reads them"

    budget.start_run()  # a plain pipeline's run does not know what is pending: time alone decides
    assert budget.take(101)
    time.sleep(0.08)
    assert not budget.take(101)


def test_past_its_time_a_run_reads_on_while_students_are_still_being_read() -> None:
    budget = BatchBudget(None, seconds=0.05)
    budget.assign(batches(4, 10))
    assert budget.take(101)
    time.sleep(0.08)
    with budget.other_reads():  # the students' pages go on: the run cannot commit before them
        assert all(budget.take(school) for school in (102, 103, 104, 101)), "attendance reads on beside them"
    assert not budget.take(102), "once they are read, the deadline holds"


def test_reads_held_open_for_other_reads_go_on_as_long_as_those_and_stop_with_them() -> None:
    # The checkpoint waits for the students' pages whatever attendance does: stopping attendance
    # at some bound (it was twice the run's seconds) would only leave request slots idle.
    budget = BatchBudget(None, seconds=0.05)
    budget.assign(batches(4, 10))
    assert budget.take(101)
    with budget.other_reads():
        time.sleep(0.12)  # past twice the run's seconds
        assert budget.take(102), "attendance reads on while the run cannot commit anyway"
        with budget.other_reads():  # students and enrollment side by side
            pass
        assert budget.take(103), "until the last of the other reads ends"
    assert not budget.take(104), "then the deadline holds"
