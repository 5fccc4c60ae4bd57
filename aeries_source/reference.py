"""Resources of the small tables refreshed every sync: schools, calendar days, absence codes."""

import logging
from typing import Any, Dict, Iterator, List, Mapping, Sequence, Set

import dlt
from dlt.common.typing import TDataItems
from dlt.extract.resource import DltResource

from aeries_source.client import AeriesClient
from aeries_source.side_by_side import side_by_side
from aeries_source.status import status_for_type_code
from aeries_source.tables import ABSENCE_CODES, CALENDAR_DAYS, SCHOOLS
from aeries_source.transform import blank_to_none, snake_record, text_column_hints

logger = logging.getLogger(__name__)

# Holiday codes of days on which attendance is taken: none (a normal day) and "%" (minimum day).
INSTRUCTIONAL_HOLIDAY_CODES = (None, "%")


def _with_text_columns(rows: List[Dict[str, Any]], blanked: Set[str]) -> Any:
    """Mark rows with their blank-text columns declared as text (merged into the resource's hints)."""
    if not blanked:
        return rows
    return dlt.mark.with_hints(rows, dlt.mark.make_hints(columns=text_column_hints(blanked)))


def schools_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    """The `schools` resource: the selected real, active schools."""
    @dlt.resource(**SCHOOLS.resource_args())
    def schools() -> Iterator[TDataItems]:
        wanted = set(codes)
        blanked: Set[str] = set()
        rows = [snake_record(s, blanked=blanked) for s in client.schools() if s.get("SchoolCode") in wanted]
        yield _with_text_columns(rows, blanked)

    return schools


def calendar_day_row(record: Mapping[str, Any], blanked: Set[str]) -> Dict[str, Any]:
    """Turn one Aeries calendar row into a `calendar_days` row (blank text is None).

    Raises:
        RejectedRecord: When CalendarDate is not a date.
    """
    row = snake_record(record, date_fields=("CalendarDate",), blanked=blanked)
    row["is_instructional_day"] = row.get("holiday_code") in INSTRUCTIONAL_HOLIDAY_CODES
    return row


def calendar_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    """The `calendar_days` resource: each school's calendar, replaced school by school."""
    @dlt.resource(**CALENDAR_DAYS.resource_args())
    def calendar_days() -> Iterator[TDataItems]:
        for sc in codes:
            blanked: Set[str] = set()
            rows = [calendar_day_row(row, blanked) for row in client.calendar(sc)]
            yield _with_text_columns(rows, blanked)

    return calendar_days


def absence_code_row(record: Mapping[str, Any], blanked: Set[str]) -> Dict[str, Any]:
    """Turn one Aeries absence code into an `absence_codes` row with the status its TypeCode maps to."""
    row = snake_record(record, blanked=blanked)
    type_code = record.get("TypeCode")
    row["status"] = status_for_type_code(type_code) if isinstance(type_code, int) else None
    return row


def absence_codes_resource(client: AeriesClient, codes: Sequence[int]) -> DltResource:
    """The `absence_codes` resource: each school's codes with the status their TypeCode maps to."""
    @dlt.resource(**ABSENCE_CODES.resource_args())
    def absence_codes() -> Iterator[TDataItems]:
        for sc, records in side_by_side(codes, client.absence_codes):
            blanked: Set[str] = set()
            rows = []
            for record in records:
                if blank_to_none(record.get("AbsenceCode")) is None:
                    # Blank text is NULL, and a NULL key cannot be stored; no attendance can name
                    # a blank code either (`build_absence_codes` skips it).
                    logger.warning("school %d: an absence-code row without a code was skipped", sc)
                    continue
                rows.append(absence_code_row(record, blanked))
            yield _with_text_columns(rows, blanked)

    return absence_codes
