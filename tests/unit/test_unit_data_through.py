"""Unit tests of `aeries_source.data_through`: how a school's mark moves with the windows read."""

from datetime import date

import pytest

from aeries_source.data_through import DataThrough, advance
from aeries_source.tables import DATA_THROUGH

D = date
MARK = DataThrough(D(2024, 11, 20), D(2024, 11, 20))


@pytest.mark.parametrize(
    "previous, ends, server, expected",
    [
        pytest.param(None, [D(2024, 9, 30), D(2024, 10, 31)], D(2024, 11, 1),
                     DataThrough(D(2024, 10, 31), D(2024, 11, 1)), id="first-read-takes-the-last-end"),
        pytest.param(None, [], D(2024, 11, 1), None, id="nothing-read-no-mark"),
        pytest.param(MARK, [], D(2024, 11, 27), None, id="nothing-to-read-keeps-the-mark"),
        pytest.param(MARK, [D(2024, 9, 30)], D(2024, 11, 27), None, id="older-range-never-lowers-it"),
        pytest.param(MARK, [D(2024, 11, 27)], D(2024, 11, 27),
                     DataThrough(D(2024, 11, 27), D(2024, 11, 27)), id="later-read-raises-it"),
        pytest.param(MARK, [D(2024, 11, 20)], D(2024, 11, 20), None, id="same-read-again-no-change"),
        pytest.param(MARK, [D(2024, 11, 20)], D(2024, 12, 1),
                     DataThrough(D(2024, 11, 20), D(2024, 12, 1)), id="reaching-the-mark-again-takes-the-new-date"),
        pytest.param(None, [D(2024, 9, 30)], None, DataThrough(D(2024, 9, 30), None), id="no-server-clock"),
    ],
)
def test_advance(previous, ends, server, expected) -> None:
    assert advance(previous, ends, server) == expected


@pytest.mark.parametrize("mark", [MARK, DataThrough(D(2024, 9, 30), None)])
def test_state_round_trip(mark: DataThrough) -> None:
    assert DataThrough.from_state(mark.to_state()) == mark


@pytest.mark.parametrize("value", [None, {}, {"data_through": None}, "2024-09-30"])
def test_no_or_unreadable_state_is_no_mark(value) -> None:
    assert DataThrough.from_state(value) is None


def test_hints_declare_every_column_with_a_type() -> None:
    hints = DATA_THROUGH.hints()
    assert hints["table_name"] == "data_through"
    assert hints["write_disposition"] == "merge"
    columns = hints["columns"]
    assert {name: c["data_type"] for name, c in columns.items()} == {
        "school_code": "bigint", "data_through": "date", "server_date": "date", "synced_at": "timestamp",
        "operation_id": "text"}
    assert hints["primary_key"] in ("school_code", ["school_code"])
