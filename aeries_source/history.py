"""The `attendance_history_summary` resource: Aeries's own yearly attendance counts per student and school."""

import logging
from typing import Any, Dict, Iterator, List, Mapping, Sequence

import dlt
from dlt.common.typing import TDataItems
from dlt.extract.resource import DltResource

from aeries_source.runtime import SyncRuntime
from aeries_source.side_by_side import side_by_side
from aeries_source.tables import ATTENDANCE_HISTORY_COUNTS, ATTENDANCE_HISTORY_SUMMARY
from aeries_source.transform import blank_to_none, snake_case

logger = logging.getLogger(__name__)


def school_year_label(database_year: int) -> str:
    """Return the `yyyy-yyyy` label Aeries's history routes use for a DatabaseYear (2024 -> `2024-2025`)."""
    return f"{database_year}-{database_year + 1}"


def history_rows(school_code: int, school_year: str, payload: Sequence[Any]) -> List[Dict[str, Any]]:
    """Turn one school's AttendanceHistory summary payload into `attendance_history_summary` rows.

    Aeries lists every student who is or was at the school, each with the summaries of all their
    schools that year; only the summary of this school and year is kept. Counters Aeries leaves
    out are 0, as it documents.

    Args:
        school_code: The school the request was made for.
        school_year: The year asked for (`yyyy-yyyy`).
        payload: The route's body: `[{StudentID, HistorySummaries: [...]}]`.

    Returns:
        One row per student with a summary of this school and year. Malformed elements are
        skipped with a warning naming neither the student nor any value.
    """
    rows: List[Dict[str, Any]] = []
    skipped = 0
    for student in payload:
        sid = student.get("StudentID") if isinstance(student, dict) else None
        summaries = student.get("HistorySummaries") if isinstance(student, dict) else None
        if type(sid) is not int or sid <= 0 or not isinstance(summaries, list):
            skipped += 1
            continue
        for summary in summaries:
            if (isinstance(summary, dict) and summary.get("SchoolCode") == school_code
                    and str(summary.get("SchoolYear", "")) == school_year):
                rows.append(_summary_row(school_code, sid, school_year, summary))
    if skipped:
        logger.warning("school %d: %d attendance-history element(s) without a StudentID were skipped",
                       school_code, skipped)
    return rows


def _summary_row(school_code: int, student_id: int, school_year: str, summary: Mapping[str, Any]) -> Dict[str, Any]:
    counts = {snake_case(key): value for key, value in summary.items()}
    row: Dict[str, Any] = {"school_code": school_code, "student_id": student_id, "school_year": school_year,
                           "reporting_school_code": counts.get("reporting_school_code"),
                           "attendance_program_code_primary": blank_to_none(
                               counts.get("attendance_program_code_primary"))}
    for name in ATTENDANCE_HISTORY_COUNTS:
        value = counts.get(name)
        row[name] = value if type(value) is int else 0
    return row


def attendance_history_resource(runtime: SyncRuntime, codes: Sequence[int], database_year: int) -> DltResource:
    """The `attendance_history_summary` resource: one request per school, each school's rows replaced.

    Aeries projects these counts to the end of the year unless the district runs "Calculate
    Attendance History Through Current Day" nightly; only then do they compare with the measures.
    """
    client = runtime.client
    school_year = school_year_label(database_year)

    @dlt.resource(**ATTENDANCE_HISTORY_SUMMARY.resource_args())
    def attendance_history_summary() -> Iterator[TDataItems]:
        fetch = lambda sc: client.attendance_history_summary(sc, school_year)  # noqa: E731
        for sc, payload in side_by_side(codes, fetch):
            rows = [runtime.pseudonymizer.row(row) for row in history_rows(sc, school_year, payload)]
            if rows:
                yield rows

    return attendance_history_summary
