"""Resources of the small tables refreshed every sync: schools, calendar days, absence codes."""

from typing import Iterator, Sequence

import dlt
from dlt.common.typing import TDataItems
from dlt.extract.resource import DltResource

from aeries_source.client import AeriesClient
from aeries_source.status import status_for_type_code
from aeries_source.transform import snake_record


def schools_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    """The `schools` resource: the selected real, active schools."""
    @dlt.resource(name="schools", write_disposition="merge", primary_key="school_code",
                  columns={"terms": {"data_type": "json"}})
    def schools() -> Iterator[TDataItems]:
        wanted = set(codes)
        yield [
            snake_record(s, date_fields=()) for s in client.schools() if s.get("SchoolCode") in wanted
        ]

    return schools


def calendar_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    """The `calendar_days` resource: each school's calendar, replaced school by school."""
    @dlt.resource(name="calendar_days", write_disposition="merge",
                  primary_key=("school_code", "calendar_date"), merge_key="school_code",
                  columns={"calendar_date": {"data_type": "date"}, "track_holidays": {"data_type": "json"}})
    def calendar_days() -> Iterator[TDataItems]:
        for sc in codes:
            rows = []
            for row in client.calendar(sc):
                out = snake_record(row, date_fields=("CalendarDate",))
                out["is_instructional_day"] = out.get("holiday_code", "") in ("", "%")
                rows.append(out)
            yield rows

    return calendar_days


def absence_codes_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    """The `absence_codes` resource: each school's codes with the status their TypeCode maps to."""
    @dlt.resource(name="absence_codes", write_disposition="merge",
                  primary_key=("school_code", "absence_code"), merge_key="school_code")
    def absence_codes() -> Iterator[TDataItems]:
        for sc in codes:
            rows = []
            for row in client.absence_codes(sc):
                out = snake_record(row)
                type_code = row.get("TypeCode")
                out["status"] = status_for_type_code(type_code) if isinstance(type_code, int) else None
                rows.append(out)
            yield rows

    return absence_codes
