"""Unit tests of how the per-school reference resources hand on a school's items."""

import threading
import time
import weakref
from types import SimpleNamespace
from typing import Any, Dict, List

from aeries_source.runtime import BatchBudget
from aeries_source.students import _read_schools


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
