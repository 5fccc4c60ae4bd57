"""Politeness towards the district's server: requests in flight and requests per second stay within the settings."""

from datetime import date
from typing import List, Tuple

import pytest

from aeries_simulator import AeriesSimulator
from aeries_sync.runner import EXIT_OK, run_sync


def _spans(sim: AeriesSimulator) -> List[Tuple[float, float]]:
    records = [r for r in sim.request_log if r.started_at is not None]
    base = min(r.started_at for r in records)  # type: ignore[type-var]
    return sorted(((r.started_at - base).total_seconds(), (r.at - base).total_seconds())  # type: ignore[operator]
                  for r in records)


def _most_in_flight(spans: List[Tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


@pytest.mark.parametrize("limit", [1, 2])
def test_at_most_max_concurrent_requests_in_flight(slow_sim, make_options, limit: int) -> None:
    options = make_options(slow_sim, batch_days=14, max_concurrent_requests=limit, max_requests_per_second=0,
                           start_date=date(2024, 9, 2), end_date=date(2024, 10, 25))
    assert run_sync(options).exit_code == EXIT_OK
    spans = _spans(slow_sim)
    assert len(spans) > 20
    assert _most_in_flight(spans) <= limit
    if limit == 2:  # the limit is reached, not merely never tested: reads do overlap
        assert _most_in_flight(spans) == 2


def test_at_most_max_requests_per_second(sim, make_options) -> None:
    rate = 10.0
    options = make_options(sim, batch_days=7, max_requests_per_second=rate,
                           start_date=date(2024, 9, 2), end_date=date(2024, 10, 25))
    assert run_sync(options).exit_code == EXIT_OK
    starts = [start for start, _ in _spans(sim)]
    assert len(starts) > 30
    # Any n+1 consecutive starts span at least n / rate seconds (a little slack for the clocks).
    window = 10
    for first, last in zip(starts, starts[window:], strict=False):
        assert last - first >= window / rate - 0.05, (first, last)


def test_limits_are_validated(sim, make_options) -> None:
    result = run_sync(make_options(sim, max_concurrent_requests=0))
    assert result.exit_code == 2 and "max_concurrent_requests" in result.message
    result = run_sync(make_options(sim, max_requests_per_second=-1))
    assert result.exit_code == 2 and "max_requests_per_second" in result.message


def test_spans_helper_counts_overlap() -> None:
    assert _most_in_flight([(0.0, 1.0), (0.5, 1.5), (1.2, 2.0)]) == 2
    assert _most_in_flight([(0.0, 1.0), (1.0, 2.0)]) == 1  # one ends as the next starts
