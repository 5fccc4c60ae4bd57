"""The dlt tweaks `run_sync` applies: results unchanged, work done once."""

from typing import Any, List

import pytest
from dlt.common import validation
from dlt.common.schema.typing import TTableSchema
from dlt.common.schema.utils import new_column, new_table

from aeries_sync.tuning import cache_schema_type_hints


def test_schema_type_hints_are_evaluated_once_and_validation_still_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    evaluated: List[Any] = []
    original = validation.get_type_hints

    def counting(spec: Any, *args: Any, **kwargs: Any) -> Any:
        evaluated.append(spec)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(validation, "get_type_hints", counting)  # restored after the test
    cache_schema_type_hints()
    cache_schema_type_hints()  # a second call does not wrap twice
    table = new_table("attendance_records", columns=[new_column("school_code", "bigint", nullable=False)])
    for _ in range(3):
        validation.validate_dict(TTableSchema, table, "table")
    assert evaluated.count(TTableSchema) == 1
    assert len(evaluated) == len(set(map(id, evaluated)))  # each TypedDict evaluated once
    with pytest.raises(validation.DictValidationException):
        validation.validate_dict(TTableSchema, {**table, "write_disposition": 5}, "table")
    with pytest.raises(validation.DictValidationException):
        validation.validate_dict(TTableSchema, {**table, "not_a_table_hint": True}, "table")
