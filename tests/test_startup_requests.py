"""The requests before the first attendance read: side by side where they can be, errors still in their order."""

import inspect
from datetime import date
from typing import Any, Iterable, List, Tuple

import dlt

from aeries_source.planning import Batch
from aeries_source.prefetch import AttendancePrefetcher
from aeries_sync.failure_causes import EXIT_BAD_INPUT, EXIT_OK
from aeries_sync.runner import run_sync


def test_schools_are_asked_for_while_the_database_year_is_checked(slow_sim, make_options) -> None:
    options = make_options(slow_sim, max_requests_per_second=0,
                           start_date=date(2024, 9, 2), end_date=date(2024, 9, 13))
    assert run_sync(options).exit_code == EXIT_OK
    first = {}
    for record in slow_sim.request_log:
        route = record.path.rstrip("/").rsplit("/", 1)[-1].lower()
        if route in ("systeminfo", "schools") and route not in first:
            first[route] = record
    info, schools = first["systeminfo"], first["schools"]
    assert info.started_at is not None and schools.started_at is not None
    # Overlapping spans: each started before the other was answered.
    assert schools.started_at < info.at and info.started_at < schools.at, (info, schools)


def test_a_year_not_offered_is_reported_before_a_refused_certificate(sim, make_options) -> None:
    options = make_options(sim, database_year=2019, certificate="not-the-district-certificate")
    result = run_sync(options)
    assert result.exit_code == EXIT_BAD_INPUT, result.message
    assert "database_year 2019" in result.message and "not offered" in result.message


def test_the_first_batches_are_requested_before_the_first_extract(sim, make_options, monkeypatch) -> None:
    """The server works on the first windows while dlt and the destination get ready to extract."""
    events: List[Tuple[str, List[int]]] = []
    submit, extract = AttendancePrefetcher.submit, dlt.Pipeline.extract

    def recorded_submit(self: AttendancePrefetcher, batches: Iterable[Batch]) -> int:
        batches = list(batches)
        events.append(("prefetch", [b.number for b in batches]))
        return submit(self, batches)

    def recorded_extract(self: dlt.Pipeline, *args: Any, **kwargs: Any) -> Any:
        events.append(("extract", []))
        return extract(self, *args, **kwargs)

    monkeypatch.setattr(AttendancePrefetcher, "submit", recorded_submit)
    monkeypatch.setattr(dlt.Pipeline, "extract", recorded_extract)
    result = run_sync(make_options(sim, start_date=date(2024, 9, 2), end_date=date(2024, 10, 25)))
    assert result.exit_code == EXIT_OK, result.message
    firsts = sorted(min(b.number for b in result.plan.batches if b.school_code == sc)
                    for sc in {b.school_code for b in result.plan.batches})
    workers = inspect.signature(AttendancePrefetcher).parameters["workers"].default
    assert events[0] == ("prefetch", firsts[:workers])
    assert events[1][0] == "extract"


def test_a_reference_part_requests_no_attendance(sim, make_options) -> None:
    result = run_sync(make_options(sim, part="reference", start_date=date(2024, 9, 2), end_date=date(2024, 10, 25)))
    assert result.exit_code == EXIT_OK, result.message
    assert not [r for r in sim.request_log if r.path.lower().endswith("/attendance")]
    assert [r for r in sim.request_log if r.path.lower().endswith("/students")]
