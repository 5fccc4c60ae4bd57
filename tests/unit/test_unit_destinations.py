"""Unit tests of the destination factories that keep their capabilities for the sync."""

import dlt
import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention

from aeries_source.destinations import DuckDb, Postgres


def comparable(caps):
    # selectors are functools.partial objects, which compare by identity
    return {k: repr(v) if callable(v) else v for k, v in dict(caps).items()}


@pytest.mark.parametrize(
    "ours, theirs",
    [
        pytest.param(DuckDb(credentials="/tmp/unit.duckdb"), dlt.destinations.duckdb(credentials="/tmp/unit.duckdb"),
                     id="duckdb"),
        pytest.param(Postgres(credentials="postgresql://u:p@127.0.0.1:5432/db"),
                     dlt.destinations.postgres(credentials="postgresql://u:p@127.0.0.1:5432/db"), id="postgres"),
    ],
)
def test_same_type_and_capabilities_as_dlt_s_factory(ours, theirs):
    assert ours.destination_type == theirs.destination_type
    assert ours.destination_name == theirs.destination_name
    for naming in (None, NamingConvention()):
        mine, dlts = ours.capabilities(naming=naming), theirs.capabilities(naming=naming)
        assert comparable(mine) == comparable(dlts)


def test_capabilities_are_resolved_once_per_naming_and_handed_out_as_copies(monkeypatch):
    destination = DuckDb(credentials="/tmp/unit.duckdb")
    calls = []
    original = dlt.destinations.duckdb.capabilities

    def counting(self, config=None, naming=None):
        calls.append(naming)
        return original(self, config, naming)

    monkeypatch.setattr(dlt.destinations.duckdb, "capabilities", counting)
    first = destination.capabilities(naming=NamingConvention())
    second = destination.capabilities(naming=NamingConvention())  # another instance, same convention
    destination.capabilities()
    assert len(calls) == 2, "once with the schema's naming, once without"
    assert first is not second and comparable(first) == comparable(second)
    first.max_identifier_length = 1
    assert destination.capabilities(naming=NamingConvention()).max_identifier_length != 1
