"""Unit tests of how the per-school reference resources hand on a school's items."""

import threading
import time
import weakref
from types import SimpleNamespace
from typing import Any, Dict, List

import pyarrow as pa
import pytest

from aeries_source import students
from aeries_source.runtime import BatchBudget
from aeries_source.students import PendingRows, _read_schools, read_ahead_after, rows_in
from aeries_source.tables import STUDENTS


class _Row(dict):
    """An item that can be watched with a weak reference."""


def test_a_school_s_items_are_not_held_while_the_next_school_is_read() -> None:
    refs: List[weakref.ref] = []
    dropped = threading.Event()
    freed_while_reading: List[bool] = []

    def fetch(school_code: int) -> List[Any]:
        if school_code == 2:  # awaited after the consumer has dropped school 1's items
            assert dropped.wait(5)
            deadline = time.monotonic() + 2
            while any(ref() is not None for ref in refs) and time.monotonic() < deadline:
                time.sleep(0.01)
            freed_while_reading.append(all(ref() is None for ref in refs))
        items = [_Row(school_code=school_code, n=n) for n in range(3)]
        refs.extend(weakref.ref(item) for item in items)
        return items

    runtime = SimpleNamespace(ensure_plan=lambda: SimpleNamespace(server_now=None), budget=BatchBudget(None))
    state: Dict[str, Any] = {}
    items = _read_schools(runtime, state, [1, 2], fetch)  # type: ignore[arg-type]
    assert [dict(next(items)) for _ in range(3)] == [{"school_code": 1, "n": n} for n in range(3)]
    dropped.set()
    assert [item["school_code"] for item in items] == [2, 2, 2]
    assert freed_while_reading == [True], "school 1's items were still held while school 2 was read"
    assert "watermark" not in state  # no server clock: the watermark stays where it was


def test_one_school_at_a_time_after_a_large_school_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(students, "_item_of", lambda runtime, item: item)  # made dlt items in a pipeline only
    rows = {1: 2_032, 2: 2_032, 3: 4_060, 4: 4_060, 5: 4_060, 6: 2_032}
    spans: Dict[int, Any] = {}

    def fetch(school_code: int) -> List[Any]:
        started = time.monotonic()
        time.sleep(0.05)
        spans[school_code] = (started, time.monotonic())
        part = pa.table({"student_id": list(range(rows[school_code]))})
        return [PendingRows(STUDENTS, [part])]

    runtime = SimpleNamespace(ensure_plan=lambda: SimpleNamespace(server_now=None), budget=BatchBudget(None))

    def read(**kwargs: Any) -> List[int]:
        spans.clear()
        return [rows_in(item) for item in _read_schools(runtime, {}, list(rows), fetch, **kwargs)]  # type: ignore[arg-type]

    def overlap(a: int, b: int) -> bool:
        return spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]

    assert read(ahead_after=read_ahead_after) == list(rows.values())  # as the enrollment resource reads
    assert overlap(1, 2), "two schools of 2,032 students are read side by side"
    # School 4 came after two large schools: it was read alone, and school 5 only once it was taken.
    assert not any(overlap(5, other) for other in rows if other != 5)
    assert read() == list(rows.values())  # as the students resource reads: always two at a time
    assert any(overlap(5, other) for other in rows if other != 5)
    assert read_ahead_after([PendingRows(STUDENTS, [pa.table({"a": [1] * 3_000})])]) == 2
    assert read_ahead_after([PendingRows(STUDENTS, [pa.table({"a": [1] * 3_001})])]) == 1
    assert read_ahead_after([[{"reject": 1}]]) == 2  # rejects alone count no rows
