"""Unit tests of `aeries_source.paginator.RecordRangePaginator` through dlt's `RESTClient.paginate`."""

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from dlt.sources.helpers.rest_client import RESTClient

from aeries_source.paginator import RecordRangePaginator

BASE = "https://aeries.test/aeries/api/v5/"
URL = BASE + "schools/901/students"


def _records(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [{"StudentID": 90000000 + offset + i, "SchoolCode": 901} for i in range(n)]


def _range(call: Any) -> tuple[int, int]:
    query = parse_qs(urlsplit(str(call.request.url)).query)
    assert len(query["StartingRecord"]) == 1 and len(query["EndingRecord"]) == 1
    return int(query["StartingRecord"][0]), int(query["EndingRecord"][0])


@pytest.mark.parametrize(
    "page_size, total, page_lengths, ranges",
    [
        pytest.param(500, 1234, [500, 500, 234], [(1, 500), (501, 1000), (1001, 1500)], id="full-pages-then-short"),
        pytest.param(500, 1000, [500, 500, 0], [(1, 500), (501, 1000), (1001, 1500)], id="exact-multiple-empty-last"),
        pytest.param(500, 37, [37], [(1, 500)], id="single-short-page"),
        pytest.param(500, 0, [0], [(1, 500)], id="no-records"),
        pytest.param(3, 7, [3, 3, 1], [(1, 3), (4, 6), (7, 9)], id="small-pages"),
        pytest.param(1, 2, [1, 1, 0], [(1, 1), (2, 2), (3, 3)], id="page-size-one"),
    ],
)
def test_paginate_record_ranges(page_size: int, total: int, page_lengths: list[int],
                                ranges: list[tuple[int, int]]) -> None:
    records = _records(total)

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(str(request.url)).query)
        first, last = int(query["StartingRecord"][0]), int(query["EndingRecord"][0])
        return 200, {"Content-Type": "application/json"}, json.dumps(records[first - 1:last])

    client = RESTClient(base_url=BASE)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, URL, callback=callback)
        pages = [list(page) for page in client.paginate(
            "schools/901/students", params={"DatabaseYear": 2024},
            paginator=RecordRangePaginator(page_size), data_selector="$",
        )]
        assert [_range(call) for call in mock.calls] == ranges
        for call in mock.calls:
            assert parse_qs(urlsplit(str(call.request.url)).query)["DatabaseYear"] == ["2024"]
    assert [len(p) for p in pages] == page_lengths
    assert [r for p in pages for r in p] == records


def test_paginator_initial_state() -> None:
    paginator = RecordRangePaginator(500)
    assert paginator.page_size == 500 and paginator.starting_record == 1
    assert paginator.has_next_page
    assert "page_size=500" in str(paginator)


@pytest.mark.parametrize("page_size", [pytest.param(0, id="zero"), pytest.param(-5, id="negative")])
def test_paginator_rejects_non_positive_page_size(page_size: int) -> None:
    with pytest.raises(ValueError):
        RecordRangePaginator(page_size)


def test_paginator_restarts_for_a_new_request() -> None:
    """A paginator reused for a second `paginate` call walks the whole list again from record 1."""
    client = RESTClient(base_url=BASE)
    paginator = RecordRangePaginator(2)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(URL, json=_records(2))
        mock.get(URL, json=_records(1, 2))
        mock.get(URL, json=_records(2))
        mock.get(URL, json=_records(1, 2))
        first = [list(p) for p in client.paginate("schools/901/students", paginator=paginator, data_selector="$")]
        second = [list(p) for p in client.paginate("schools/901/students", paginator=paginator, data_selector="$")]
        assert [_range(c) for c in mock.calls] == [(1, 2), (3, 4), (1, 2), (3, 4)]
    assert [len(p) for p in first] == [2, 1]
    assert [len(p) for p in second] == [2, 1]
