"""Delta syncs: after a full load, corrections and enrollment changes arrive cheaply and exactly."""

from datetime import date, timedelta

import pytest
from sync_truth import assert_attendance_matches, assert_small_tables_match, query

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_sync.runner import EXIT_OK, run_sync

YEAR_START = date(2024, 8, 15)


@pytest.fixture
def midyear_sim():
    """A district in the middle of the year: early months locked, the recent ones open."""
    spec = DistrictSpec(seed=23, schools=3, students_per_school=40, today=date(2025, 5, 2))
    simulator = AeriesSimulator(spec).start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        simulator.stop()


def _attendance_requests(sim):
    return [r for r in sim.request_log if "/attendance" in r.path.lower()]


def _period_school(sim):
    return next(sc for sc in sim.school_codes() if sim.school_periods(sc))


def test_delta_sync_picks_up_every_kind_of_change(midyear_sim, make_options):
    sim = midyear_sim
    options = make_options(sim, "postgres")
    full = run_sync(options)
    assert full.exit_code == EXIT_OK, full.message
    assert full.plan.mode == "full"
    assert_attendance_matches(sim, options, YEAR_START, sim.today)

    school = _period_school(sim)
    other = next(sc for sc in sim.school_codes() if sc != school)
    first_open = sim.first_unlocked_day(school)
    # Lock the first open month, then change things after it (still open).
    month = query(options, "SELECT attendance_month FROM {t:calendar_days} "
                           f"WHERE school_code = {school} AND calendar_date = '{first_open.isoformat()}'")[0][0]
    for sc in sim.school_codes():
        sim.lock_month(sc, int(month))
    open_from = sim.first_unlocked_day(school)
    assert open_from > first_open
    days = sim.truth_attendance(school, open_from, sim.today)
    absences = [d for d in days if d["all_day_code"] or d["classes"]]
    unverified = [d for d in absences if d["all_day_code"] == "A" or any(c["code"] == "A" for c in d["classes"])]
    assert len(absences) >= 5 and unverified
    excused = unverified[0]
    cleared, tardy = [d for d in absences if d is not excused][:2]
    touched = {excused["date"], cleared["date"], tardy["date"]}
    cleared_day = next(d["date"] for d in absences if d["date"] not in touched)
    sim.clear_absence(school, cleared["student_id"], cleared["date"])
    sim.excuse_absence(school, excused["student_id"], excused["date"])
    free_period = next(p for p in sim.school_periods(school)
                       if p not in {c["period"] for c in tardy["classes"]})
    sim.add_period_code(school, tardy["student_id"], tardy["date"], free_period, "T")
    sim.clear_school_day(school, cleared_day)
    new_student = sim.enroll_student(other, grade=3, enter_date=sim.today)
    leaver = sim.truth_students(other)[0]["StudentID"]
    sim.withdraw_student(other, leaver, open_from + timedelta(days=1))  # backdated
    sim.advance_clock(days=1)

    sim.clear_request_log()
    delta = run_sync(make_options(sim, "postgres"))
    assert delta.exit_code == EXIT_OK, delta.message
    assert delta.plan.mode == "delta"
    # The month locked since the full load may have been corrected before it locked: this delta
    # reads it once more (from the first day that was open at the last sync); later ones don't.
    for window in delta.plan.ranges:
        assert window.start == first_open
        assert window.end == sim.today
    assert_attendance_matches(sim, options, YEAR_START, sim.today)
    assert_small_tables_match(sim, options)
    assert query(options, "SELECT COUNT(*) FROM {t:attendance_records} "
                          f"WHERE school_code = {school} AND attendance_date = '{cleared_day.isoformat()}'")[0][0] == 0
    assert query(options, f"SELECT COUNT(*) FROM {{t:students}} WHERE student_id = {new_student}")[0][0] == 1
    # The newly locked month's rows can no longer be corrected, although they were not re-read.
    locked_open = query(options, "SELECT COUNT(*) FROM {t:attendance_records} a "
                                 "WHERE a.can_be_corrected AND a.attendance_date < "
                                 f"'{open_from.isoformat()}'")[0][0]
    assert locked_open == 0
    changes = delta.changes["attendance_records"]
    assert changes.deleted >= 1 and changes.updated >= 2
    assert delta.changes["students"].inserted == 1 and delta.changes["students"].updated >= 1
    # Students were re-fetched one by one from StudentDataChanges, not school by school.
    paths = [r.path.lower() for r in sim.request_log]
    assert any("studentdatachanges" in p for p in paths)
    assert not any(p.rstrip("/").endswith("/students") for p in paths)

    # Nothing changed since: a delta sync writes no changed rows.
    unchanged = run_sync(make_options(sim, "postgres"))
    assert unchanged.exit_code == EXIT_OK
    for window in unchanged.plan.ranges:  # locked months are not re-read any more
        assert window.start == sim.first_unlocked_day(window.school_code) == open_from
    assert {t: (c.inserted, c.updated, c.deleted) for t, c in unchanged.changes.items()} == {
        "attendance_records": (0, 0, 0), "students": (0, 0, 0), "enrollment": (0, 0, 0)}
    assert_attendance_matches(sim, options, YEAR_START, sim.today)


def test_delta_requests_grow_with_the_window_not_the_year(midyear_sim, make_options):
    sim = midyear_sim
    options = make_options(sim, "duckdb", batch_days=7)
    sim.clear_request_log()
    full = run_sync(options)
    assert full.exit_code == EXIT_OK
    full_requests = len(_attendance_requests(sim))
    assert full_requests == len(full.plan.batches)

    sim.clear_request_log()
    delta = run_sync(make_options(sim, "duckdb", batch_days=7))
    small_window = len(_attendance_requests(sim))
    assert small_window == len(delta.plan.batches)
    for window in delta.plan.ranges:
        assert (window.end - window.start).days < 40
    assert small_window * 3 < full_requests, (small_window, full_requests, full.plan.ranges, delta.plan.ranges)

    # Two weeks later another month has locked and the window moved: requests follow the window.
    open_before = {sc: sim.first_unlocked_day(sc) for sc in sim.school_codes()}
    sim.advance_clock(days=14)
    sim.clear_request_log()
    later = run_sync(make_options(sim, "duckdb", batch_days=7))
    assert later.exit_code == EXIT_OK
    grown = len(_attendance_requests(sim))
    expected = sum(-(-((w.end - w.start).days + 1) // 7) for w in later.plan.ranges)
    assert grown == expected
    # The month that locked in those two weeks is read once more, nothing earlier.
    assert all(w.start == min(open_before[w.school_code], sim.first_unlocked_day(w.school_code))
               for w in later.plan.ranges)
    for record in _attendance_requests(sim):
        assert record.query["StartDate"] >= min(w.start for w in later.plan.ranges).strftime("%Y%m%d")
    assert_attendance_matches(sim, options, YEAR_START, sim.today)
