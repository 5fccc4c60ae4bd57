"""Unit tests of `aeries_source.batching`: inclusive, contiguous date windows and Aeries date text."""

import itertools
import random
from datetime import date, timedelta

import pytest

from aeries_source.batching import aeries_date, date_batches

D = date


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _assert_tiles(windows: list[tuple[date, date]], start: date, end: date, batch_days: int) -> None:
    """Windows are inclusive, contiguous, non-overlapping, bounded by batch_days, and cover start..end."""
    assert windows[0][0] == start
    assert windows[-1][1] == end
    for lo, hi in windows:
        assert lo <= hi
        assert (hi - lo).days + 1 <= batch_days
    for (_, prev_hi), (next_lo, _) in itertools.pairwise(windows):
        assert next_lo == prev_hi + timedelta(days=1)
    covered = [d for lo, hi in windows for d in _days(lo, hi)]
    assert covered == _days(start, end)


@pytest.mark.parametrize(
    "start, end, batch_days, expected",
    [
        pytest.param(
            D(2024, 1, 1), D(2024, 1, 10), 4,
            [(D(2024, 1, 1), D(2024, 1, 4)), (D(2024, 1, 5), D(2024, 1, 8)), (D(2024, 1, 9), D(2024, 1, 10))],
            id="short-last-window",
        ),
        pytest.param(
            D(2024, 1, 1), D(2024, 1, 9), 3,
            [(D(2024, 1, 1), D(2024, 1, 3)), (D(2024, 1, 4), D(2024, 1, 6)), (D(2024, 1, 7), D(2024, 1, 9))],
            id="exact-multiple",
        ),
        pytest.param(
            D(2024, 1, 30), D(2024, 2, 2), 2,
            [(D(2024, 1, 30), D(2024, 1, 31)), (D(2024, 2, 1), D(2024, 2, 2))],
            id="jan31-feb1-boundary",
        ),
        pytest.param(
            D(2024, 1, 31), D(2024, 2, 1), 30,
            [(D(2024, 1, 31), D(2024, 2, 1))],
            id="window-spans-month-boundary",
        ),
        pytest.param(
            D(2024, 2, 27), D(2024, 3, 2), 3,
            [(D(2024, 2, 27), D(2024, 2, 29)), (D(2024, 3, 1), D(2024, 3, 2))],
            id="leap-day-2024-02-29",
        ),
        pytest.param(
            D(2023, 2, 27), D(2023, 3, 2), 3,
            [(D(2023, 2, 27), D(2023, 3, 1)), (D(2023, 3, 2), D(2023, 3, 2))],
            id="non-leap-february",
        ),
        pytest.param(
            D(2024, 12, 30), D(2025, 1, 2), 2,
            [(D(2024, 12, 30), D(2024, 12, 31)), (D(2025, 1, 1), D(2025, 1, 2))],
            id="year-boundary",
        ),
        pytest.param(
            D(2024, 12, 31), D(2025, 1, 1), 7,
            [(D(2024, 12, 31), D(2025, 1, 1))],
            id="window-spans-year-boundary",
        ),
        pytest.param(D(2024, 9, 3), D(2024, 9, 3), 30, [(D(2024, 9, 3), D(2024, 9, 3))], id="single-day"),
        pytest.param(D(2024, 9, 3), D(2024, 9, 3), 1, [(D(2024, 9, 3), D(2024, 9, 3))], id="single-day-chunk-1"),
        pytest.param(
            D(2024, 9, 1), D(2024, 9, 3), 1,
            [(D(2024, 9, 1), D(2024, 9, 1)), (D(2024, 9, 2), D(2024, 9, 2)), (D(2024, 9, 3), D(2024, 9, 3))],
            id="chunk-days-1",
        ),
        pytest.param(
            D(2024, 8, 15), D(2024, 9, 15), 365, [(D(2024, 8, 15), D(2024, 9, 15))], id="chunk-larger-than-range"
        ),
        pytest.param(D(2024, 9, 10), D(2024, 9, 9), 30, [], id="end-one-day-before-start"),
        pytest.param(D(2025, 1, 1), D(2024, 1, 1), 1, [], id="end-a-year-before-start"),
    ],
)
def test_date_chunks_windows(start: date, end: date, batch_days: int, expected: list[tuple[date, date]]) -> None:
    windows = date_batches(start, end, batch_days)
    assert windows == expected
    if expected:
        _assert_tiles(windows, start, end, batch_days)


def test_date_chunks_school_year_with_default_chunk() -> None:
    start, end = D(2024, 8, 15), D(2025, 6, 12)
    windows = date_batches(start, end, 30)
    _assert_tiles(windows, start, end, 30)
    total_days = (end - start).days + 1
    assert len(windows) == -(-total_days // 30)
    assert all((hi - lo).days + 1 == 30 for lo, hi in windows[:-1])


@pytest.mark.parametrize(
    "batch_days",
    [pytest.param(0, id="zero"), pytest.param(-1, id="minus-one"), pytest.param(-30, id="minus-thirty")],
)
def test_date_chunks_rejects_non_positive_chunk(batch_days: int) -> None:
    with pytest.raises(ValueError, match="batch_days"):
        date_batches(D(2024, 9, 1), D(2024, 9, 30), batch_days)


def test_date_chunks_non_positive_chunk_rejected_even_for_empty_range() -> None:
    with pytest.raises(ValueError):
        date_batches(D(2024, 9, 30), D(2024, 9, 1), 0)


def test_date_chunks_property_random_ranges() -> None:
    rng = random.Random(20240815)
    base = D(2023, 1, 1)
    for _ in range(500):
        start = base + timedelta(days=rng.randint(0, 3 * 366))
        length = rng.randint(-5, 400)  # negative lengths give an empty result
        end = start + timedelta(days=length)
        batch_days = rng.randint(1, 60)
        windows = date_batches(start, end, batch_days)
        if end < start:
            assert windows == []
            continue
        _assert_tiles(windows, start, end, batch_days)
        # Every window but the last is full-sized; the count is the ceiling of days / batch_days.
        assert all((hi - lo).days + 1 == batch_days for lo, hi in windows[:-1])
        assert len(windows) == -(-((end - start).days + 1) // batch_days)
        # The union of the windows is exactly the range, as a set too.
        assert {d for lo, hi in windows for d in _days(lo, hi)} == set(_days(start, end))


@pytest.mark.parametrize(
    "day, expected",
    [
        pytest.param(D(2024, 8, 15), "20240815", id="plain"),
        pytest.param(D(2024, 2, 29), "20240229", id="leap-day"),
        pytest.param(D(2025, 1, 1), "20250101", id="zero-padded-month-and-day"),
        pytest.param(D(2024, 12, 31), "20241231", id="year-end"),
    ],
)
def test_aeries_date_is_yyyymmdd(day: date, expected: str) -> None:
    assert aeries_date(day) == expected
