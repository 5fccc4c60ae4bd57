"""Resources of students and enrollment: full per school, or only what StudentDataChanges reports."""

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

import dlt
import pyarrow as pa
from dlt.common.typing import TDataItems
from dlt.extract.resource import DltResource

from aeries_source import settings
from aeries_source.arrow_rows import typed_table, values_table
from aeries_source.attendance_table import DLT_ROW_COLUMNS, with_dlt_row_columns
from aeries_source.planning import EXPLICIT
from aeries_source.rejects import reject_row, rejects_item
from aeries_source.runtime import SyncRuntime
from aeries_source.side_by_side import side_by_side
from aeries_source.student_page import StudentPage
from aeries_source.tables import ENROLLMENT, STUDENTS, TOMBSTONE_COLUMN, Table
from aeries_source.transform import (
    RejectedRecord,
    snake_case,
    snake_record,
    text_column_hints,
)


def _changed_students(runtime: SyncRuntime, watermark: Optional[str]) -> Optional[Dict[int, set]]:
    """Students changed since `watermark` by StudentDataChanges, per school; None without a watermark.

    Both the `student` and `enrollment` areas are read: a withdrawal or a new enrollment touches
    either, and both tables need the re-fetch.
    """
    if not watermark:
        return None
    since = datetime.fromisoformat(watermark) - timedelta(minutes=settings.DATA_CHANGES_OVERLAP_MINUTES)
    changed: Dict[int, set] = {}
    for area in ("student", "enrollment"):
        for item in runtime.client.data_changes(area, since):
            sid, sc = item.get("StudentID"), item.get("SchoolCode")
            if isinstance(sid, int) and isinstance(sc, int):
                changed.setdefault(sc, set()).add(sid)
    return changed


def _full_refresh(runtime: SyncRuntime, changed: Optional[Dict[int, set]], school_code: int) -> bool:
    plan = runtime.ensure_plan()
    return changed is None or plan.mode == EXPLICIT or school_code in plan.first_load_schools


def students_resource(runtime: SyncRuntime, codes: Sequence[int], fields: Sequence[str]) -> DltResource:
    """The `students` resource: every student of each school, or only those changed since the watermark."""
    client = runtime.client
    date_fields = [f for f in settings.STUDENT_DATE_FIELDS if f in fields]
    wanted = {snake_case(f) for f in fields}
    columns: Dict[str, Any] = {c: {"data_type": "date"} for c in (
        "birthdate", "school_enter_date", "district_enter_date", "school_leave_date") if c in wanted}
    if runtime.pseudonymizer.enabled:
        columns.update({"state_student_id": {"data_type": "text"}, "student_number": {"data_type": "text"}})

    def rows(sc: int, pages: Iterable[List[Dict[str, Any]]]) -> List[Any]:
        """A school's items: its rejects, then all its rows as one item.

        One item per school, not per page: dlt recomputes the table's schema for every item that
        carries hints (about 10 ms each, in the thread that writes every table). The rows wait
        as Arrow parts of a page each: a school of 4,000 students waited as 10 MiB of dicts.
        """
        blanked: Set[str] = set()
        good: List[RowsPart] = []
        waiting: List[Dict[str, Any]] = []
        items: List[Any] = []

        def transform(records: List[Dict[str, Any]]) -> PageRows:
            page_blanked: Set[str] = set()
            page_rows, rejected = _transform_records(
                runtime, sc, "students", records, lambda r: _student_row(r, fields, date_fields, page_blanked),
                count_rejects=False)
            return page_rows, rejected, page_blanked

        for page in pages:
            page_rows, rejected, page_blanked = page_rows_of(page, transform)
            blanked |= page_blanked
            waiting += page_rows
            if len(waiting) >= _PART_ROWS:  # a page; changed students come one by one
                good.append(rows_part(waiting))
                waiting = []
            if rejected:
                runtime.count_rejects(len(rejected))
                items.append(rejects_item(rejected))
        good += rows_parts(waiting)
        if good:
            items.append(PendingRows(STUDENTS, good, {**text_column_hints(blanked), **columns}))
        return items

    # Items name their tables through hints (students, rejects), as in attendance.attendance_resource.
    # Parallelized: its requests wait in a worker thread, not in the thread that writes every table.
    @dlt.resource(name="students", write_disposition="merge", parallelized=True)
    def students() -> Iterator[TDataItems]:
        state = dlt.current.resource_state()
        changed = _changed_students(runtime, state.get("watermark"))

        def fetch(sc: int) -> List[Any]:
            """A school's items: every student (full refresh) or the changed ones, transformed.

            Transformed here, page by page: a decoded Aeries student carries a hundred fields,
            the rows only the chosen ones, and schools read ahead wait as rows.
            """
            if _full_refresh(runtime, changed, sc):
                return rows(sc, client.students(sc, fields=fields))
            found: List[List[Dict[str, Any]]] = []
            tombstones: List[Any] = []
            for sid in sorted(changed.get(sc, ())):  # type: ignore[union-attr]
                records = [r for r in client.student(sc, sid) if r.get("SchoolCode", sc) == sc]
                if records:
                    found.append(records)
                else:  # no longer at this school in Aeries: remove the row
                    tombstone = {"student_id": runtime.pseudonymizer.student_id(sid), "school_code": sc,
                                 TOMBSTONE_COLUMN: True}
                    tombstones.append(PendingRows(STUDENTS, [rows_part([tombstone])], dict(columns)))
            return rows(sc, found) + tombstones

        yield from _read_schools(runtime, state, codes, fetch)

    return students


# A page's rows, its rejected records (as `rejects` rows) and the names of its blank text fields.
PageRows = Tuple[List[Dict[str, Any]], List[Dict[str, Any]], Set[str]]


def page_rows_of(page: List[Dict[str, Any]], transform: Callable[[List[Dict[str, Any]]], PageRows]) -> PageRows:
    """Transform a page of student records; a projected page with a record to reject is transformed as sent.

    The rejects table keeps a rejected record whole, and which blank fields a rejected record shows
    depends on its own key order, so such a page (`StudentPage`) is decoded whole and transformed again.
    """
    page_rows, rejected, blanked = transform(page)
    if rejected and isinstance(page, StudentPage) and page.projected:
        return transform(page.full())
    return page_rows, rejected, blanked


def _read_schools(
    runtime: SyncRuntime, state: Dict[str, Any], codes: Sequence[int], fetch: Callable[[int], List[Any]],
    ahead_after: Optional[Callable[[List[Any]], int]] = None,
) -> Iterator[Any]:
    """Yield each school's items (read side by side), then move the change watermark to the server's clock.

    Args:
        ahead_after: How many schools to read at once after a school's items (`side_by_side`);
            default: always two.
    """
    # Two schools at a time: the attendance reads share the client's request slots anyway.
    with runtime.budget.other_reads():
        for _, items in side_by_side(codes, fetch, ahead=2, ahead_after=ahead_after):
            # Taken out of the school's list as they are yielded: this generator waits for the next
            # school's reads with its locals, and none of them should still hold this school's rows.
            items.reverse()
            while items:
                yield _item_of(runtime, items.pop())
    server_now = runtime.ensure_plan().server_now
    if server_now is not None:
        state["watermark"] = server_now.isoformat()


# Enrollment rows of schools read at once: two schools of up to 3,000 rows each, one larger school.
# A school's year of enrollment is one response, decoded whole (6.6 MiB of records at 4,000
# students), so what waits grows with the school. Students are not limited so: their pages are read
# one after the other within a school, and one school at a time made a chain of ~100 requests at
# 20 x 4,000 (latency rounds of up to 7.9 s with 100 ms a response) for 1-2 MiB of peak RSS.
_READ_AHEAD_ROWS = 6_000


def read_ahead_after(items: List[Any]) -> int:
    """How many schools to read at once after a school whose items are `items`: two, one for a large school."""
    rows = sum(rows_in(item) for item in items)
    return 2 if 2 * rows <= _READ_AHEAD_ROWS else 1


def rows_in(item: Any) -> int:
    """Rows of a school's `PendingRows` item (other items, such as rejects, count none)."""
    if not isinstance(item, PendingRows):
        return 0
    return sum(part.num_rows if isinstance(part, pa.Table) else len(part) for part in item.parts)


def _item_of(runtime: SyncRuntime, item: Any) -> Any:
    return as_item(runtime, item) if isinstance(item, PendingRows) else item


# A set of rows as an Arrow table typed by its values (`values_table`), or the dict rows when it cannot be one.
RowsPart = Union[pa.Table, List[Dict[str, Any]]]

# Rows made Arrow parts this many at a time: a school's rows wait in parts, not as one list of dicts.
_PART_ROWS = 1_000


def rows_part(rows: List[Dict[str, Any]]) -> RowsPart:
    """The rows as an Arrow part (a fraction of their dicts' memory), or as they are when Arrow cannot hold them."""
    table = values_table(rows)
    return rows if table is None else table


def rows_parts(rows: List[Dict[str, Any]]) -> List[RowsPart]:
    """The rows as parts of at most `_PART_ROWS` rows each."""
    return [rows_part(rows[i:i + _PART_ROWS]) for i in range(0, len(rows), _PART_ROWS)]


@dataclass
class PendingRows:
    """Rows of one table read for a school, with the column hints they add, not yet made an item.

    Read-ahead schools wait as these (made in the reading threads); `as_item` makes each one an
    item when the resource yields it, in the extract thread, where dlt's schema and load id are.
    """

    table: Table
    parts: List[RowsPart]
    columns: Dict[str, Any] = field(default_factory=dict)


def as_item(runtime: SyncRuntime, pending: PendingRows) -> Any:
    """Make rows an item: an Arrow table typed as dlt would type them, or the dict rows when it cannot be one."""
    hints = pending.table.hints(pending.columns)
    known = dlt.current.source_schema().tables.get(pending.table.name, {}).get("columns", {})
    tables = [part for part in pending.parts if isinstance(part, pa.Table)]
    table = None
    if len(tables) == len(pending.parts):
        table = typed_table(tables, hints.get("columns") or {}, known,
                            not_null=(*pending.table.primary_key, *pending.table.merge_key))
    if table is None:  # as dict rows, which dlt coerces: Arrow parts go back to the rows they were made from
        rows = [row for part in pending.parts for row in (part.to_pylist() if isinstance(part, pa.Table) else part)]
        return dlt.mark.with_hints(rows, hints, create_table_variant=True)
    row_columns = [c for c in DLT_ROW_COLUMNS
                   if c in known or c in runtime.row_columns.get(pending.table.name, ())]
    if row_columns:  # a table first made from dict rows has these NOT NULL
        table = with_dlt_row_columns(table, row_columns, dlt.current.load_package_state()["load_id"])
    return dlt.mark.with_hints(table, hints, create_table_variant=True)


def _transform_records(
    runtime: SyncRuntime, school_code: int, endpoint: str, records: List[Dict[str, Any]], transform: Any,
    count_rejects: bool = True,
) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Transform records; those that fail go to `rejects` instead of failing the run (counted unless told not to)."""
    good, rejected = [], []
    for record in records:
        try:
            good.append(runtime.pseudonymizer.row(transform(record)))
        except (RejectedRecord, AttributeError, TypeError, ValueError) as exc:
            rejected.append(reject_row(runtime.run_id, school_code, None, None,
                                       runtime.pseudonymizer.raw(record), str(exc), endpoint))
    if rejected and count_rejects:
        runtime.count_rejects(len(rejected))
    return good, rejected


def _student_row(
    record: Dict[str, Any], fields: Sequence[str], date_fields: Sequence[str], blanked: Set[str]
) -> Dict[str, Any]:
    if not isinstance(record.get("StudentID"), int) or not isinstance(record.get("SchoolCode"), int):
        raise RejectedRecord("StudentID or SchoolCode missing or not an integer")
    row = snake_record(record, fields=fields, date_fields=date_fields, blanked=blanked)
    row[TOMBSTONE_COLUMN] = False
    return row


# Placeholder enter date of the tombstone that clears a student's enrollment rows (the key column
# is NOT NULL; no real enrollment starts on it).
_TOMBSTONE_ENTER_DATE = date(1900, 1, 1)


def enrollment_resource(runtime: SyncRuntime, codes: Sequence[int], year: int) -> DltResource:
    """The `enrollment` resource: each school's enrollment rows of the year, or the changed students' rows."""
    client = runtime.client

    @dlt.resource(name="enrollment", write_disposition="merge", parallelized=True)  # as `students`
    def enrollment() -> Iterator[TDataItems]:
        state = dlt.current.resource_state()
        changed = _changed_students(runtime, state.get("watermark"))

        def fetch(sc: int) -> List[Any]:
            """A school's items: its enrollment rows of the year (full refresh) or the changed students'.

            Transformed here, as in `students`: what waits for its turn is rows, not decoded records.
            A thousand records at a time, each let go once transformed, and each thousand rows made
            an Arrow part: a school's year of 4,000 students decodes to 6.6 MiB of records
            (tracemalloc), which no longer wait beside as many of rows.
            """
            if _full_refresh(runtime, changed, sc):
                records, refetched = client.enrollment(sc, year), []
            else:
                refetched = sorted(changed.get(sc, ()))  # type: ignore[union-attr]
                records = [r for sid in refetched for r in client.student_enrollment(sc, sid, year)]
            # A tombstone per re-fetched student clears their rows first (merge key), so rows Aeries
            # no longer has disappear; the fetched rows are then inserted.
            tombstones: List[Dict[str, Any]] = [
                {"student_id": runtime.pseudonymizer.student_id(sid), "school_code": sc, "academic_year": str(year),
                 "enter_date": _TOMBSTONE_ENTER_DATE, TOMBSTONE_COLUMN: True}
                for sid in refetched
            ]
            blanked: Set[str] = set()
            transform = functools.partial(_enrollment_row, blanked=blanked)
            parts: List[RowsPart] = []
            waiting: List[Dict[str, Any]] = tombstones
            rejected: List[Dict[str, Any]] = []
            while records:
                chunk = records[:_PART_ROWS]
                del records[:_PART_ROWS]
                good, chunk_rejected = _transform_records(runtime, sc, "enrollment", chunk, transform)
                rejected += chunk_rejected
                waiting += good
                if len(waiting) >= _PART_ROWS:
                    parts.append(rows_part(waiting))
                    waiting = []
            parts += rows_parts(waiting)
            items: List[Any] = [rejects_item(rejected)] if rejected else []
            if parts:
                items.append(PendingRows(ENROLLMENT, parts, text_column_hints(blanked)))
            return items

        yield from _read_schools(runtime, state, codes, fetch, ahead_after=read_ahead_after)

    return enrollment


def _enrollment_row(record: Dict[str, Any], blanked: Set[str]) -> Dict[str, Any]:
    if not isinstance(record.get("StudentID"), int) or not isinstance(record.get("SchoolCode"), int):
        raise RejectedRecord("StudentID or SchoolCode missing or not an integer")
    row = snake_record(record, date_fields=settings.ENROLLMENT_DATE_FIELDS, blanked=blanked)
    if row.get("enter_date") is None:
        raise RejectedRecord("EnterDate is missing")
    if row.get("academic_year") is None:  # a key column; blank text is None (see blank_to_none)
        raise RejectedRecord("AcademicYear is missing")
    row["academic_year"] = str(row["academic_year"])
    row[TOMBSTONE_COLUMN] = False
    return row
