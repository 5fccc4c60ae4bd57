"""The attendance transform on whole columns: an Arrow-parsed response to one batch's `attendance_records` table."""

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aeries_source.attendance_table import ATTENDANCE_SCHEMA, NullColumns, attendance_table, repeated
from aeries_source.planning import Batch
from aeries_source.pseudonym import Pseudonymizer
from aeries_source.settings import ALL_PERIODS
from aeries_source.status import PRESENT, is_absence, is_tardy
from aeries_source.tables import TOMBSTONE_COLUMN
from aeries_source.transform import AbsenceCode, RejectedRecord, SchoolContext, tombstone_row

logger = logging.getLogger(__name__)

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_PERIOD_INDEX = {p: i for i, p in enumerate(ALL_PERIODS)}


class _NotPlain(Exception):
    """The response holds a record the row-by-row path must judge (a reject, or a rare shape)."""


@dataclass
class _Codes:
    """Distinct code texts of one column, with what each one means (`transform.attendance_day_row`'s rules)."""

    texts: pa.Array  # the distinct texts, as sent
    blank: np.ndarray  # bool per text: empty or whitespace-only, which means "no code"
    status: List[Optional[str]]  # per text; None for a blank one
    absent: np.ndarray
    tardy: np.ndarray


def vector_attendance_table(
    ctx: SchoolContext, batch: Batch, students: pa.StructArray, pseudonymizer: Pseudonymizer,
    batch_values: Mapping[str, Any],
) -> Optional[Tuple[pa.Table, int]]:
    """Build a batch's table (a tombstone per day, then one row per AttendanceDay) from whole columns.

    The result equals what `transform.attendance_day_row` makes row by row, for a response in
    which every record is well formed. That is nearly always the case; when it is not (a record to
    reject, or a period given twice in one day), this returns None and the caller takes the row-by-row
    path, which rejects exactly the records at fault.

    Args:
        ctx: The school the request was made for.
        batch: The batch the response answers; every date must fall within it.
        students: The response's students, as `attendance_response.parse_attendance` parsed them.
        pseudonymizer: Applied to `student_id`, as on the row-by-row path.
        batch_values: The columns that hold one value on every row of the batch.

    Returns:
        The Arrow table and its number of attendance records (tombstones aside), or None.
    """
    try:
        records = _records_table(ctx, batch, students, pseudonymizer, batch_values)
    except _NotPlain as exc:
        logger.debug("batch %d (school %d) takes the row-by-row path: %s", batch.number, ctx.school_code, exc)
        return None
    tombstones = [tombstone_row(batch.school_code, day) for day in batch.days()]
    table = pa.concat_tables([attendance_table(tombstones, batch_values), records])
    return table, records.num_rows


def _records_table(
    ctx: SchoolContext, batch: Batch, students: pa.StructArray, pseudonymizer: Pseudonymizer,
    batch_values: Mapping[str, Any],
) -> pa.Table:
    student_ids, days_lists = students.flatten()
    days = days_lists.flatten()
    if students.null_count or days_lists.null_count or days.null_count:
        raise _NotPlain("a student, AttendanceDays or day is null")
    count = len(days)
    if count == 0:
        return ATTENDANCE_SCHEMA.empty_table()
    day_student = _take(student_ids, pc.list_parent_indices(days_lists))
    if day_student.null_count or pc.min(day_student).as_py() <= 0:
        raise _NotPlain("a StudentID is missing or not positive")
    calendar_dates, all_day_codes, classes_lists = days.flatten()
    if calendar_dates.null_count:
        raise _NotPlain("a CalendarDate is missing")

    # A window has a few dozen dates and a school a few dozen codes: each distinct value is judged
    # once in Python, by the same functions as the row-by-row path, and its verdict spread by index.
    date_texts, day_date = _distinct(calendar_dates)
    facts = [_day_facts(ctx, text) for text in date_texts.to_pylist()]
    if any(not batch.start <= f.day <= batch.end for f in facts):
        raise _NotPlain("a CalendarDate outside the requested window")
    ordinals = np.array([f.day.toordinal() for f in facts], dtype=np.int64)[day_date]
    _check_one_record_per_day(day_student.to_numpy(), ordinals)

    # A missing or null all-day code is no code, as an empty one is.
    day_code_texts, day_code = _distinct(pc.fill_null(all_day_codes, ""))
    day_codes = _codes(ctx, day_code_texts)
    has_all_day = ~day_codes.blank[day_code]

    periods = _Periods(ctx, classes_lists, count)
    meeting = np.array([[p in f.meeting_periods for p in ALL_PERIODS] for f in facts], dtype=bool)[day_date]

    full_day_absent = np.where(
        has_all_day, day_codes.absent[day_code],
        ctx.is_period_school & (periods.coded_count > 0) & meeting.any(axis=1)
        & (~meeting | periods.absent).all(axis=1),
    )
    tardies = np.where((periods.coded_count == 0) & has_all_day & day_codes.tardy[day_code],
                       1, periods.tardy_count)
    correction_deadlines = pa.array([f.correction_deadline for f in facts], type=pa.date32())

    columns: Dict[str, pa.Array] = {
        "school_code": repeated(ctx.school_code, pa.int64(), count),
        "student_id": _pseudonyms(day_student, pseudonymizer),
        "attendance_date": pa.array((ordinals - _EPOCH_ORDINAL).astype(np.int32)).cast(pa.date32()),
        "all_day_code": _texts_where(day_codes.texts, day_code, has_all_day),
        "all_day_status": _texts_where(pa.array(day_codes.status, pa.string()), day_code, has_all_day),
        "is_full_day_absent": pa.array(full_day_absent, pa.bool_()),
        "is_present": pa.array(~full_day_absent, pa.bool_()),
        "tardy_count": pa.array(tardies.astype(np.int64)),
        "can_be_corrected": pa.array(np.array([f.can_be_corrected for f in facts], dtype=bool)[day_date]),
        "correction_deadline": correction_deadlines.take(pa.array(day_date)),
        TOMBSTONE_COLUMN: repeated(False, pa.bool_(), count),
    }
    columns.update(periods.columns(meeting, NullColumns(count)))
    arrays = []
    for field in ATTENDANCE_SCHEMA:
        if field.name in batch_values:
            arrays.append(repeated(batch_values[field.name], field.type, count))
        else:
            arrays.append(columns[field.name])
    return pa.Table.from_arrays(arrays, schema=ATTENDANCE_SCHEMA)


class _Periods:
    """The days' `Classes`, spread into a column per period (0-9) of status, code and section."""

    def __init__(self, ctx: SchoolContext, classes_lists: pa.ListArray, count: int) -> None:
        classes = classes_lists.flatten()  # a null Classes is no classes, as on the row-by-row path
        if classes.null_count:
            raise _NotPlain("a class entry is null")
        sections, period_texts, codes = classes.flatten()
        class_day = _take_numpy(pc.list_parent_indices(classes_lists))
        if period_texts.null_count or codes.null_count:
            raise _NotPlain("a class Period or AttendanceCode is missing")
        period_values, period_index = _distinct(period_texts)
        period_numbers = [_PERIOD_INDEX.get(text) for text in period_values.to_pylist()]
        if any(n is None for n in period_numbers):
            raise _NotPlain("a Period outside 0-9")
        class_period = np.array(period_numbers, dtype=np.int64)[period_index]
        code_texts, class_code = _distinct(codes)
        self.codes = _codes(ctx, code_texts)
        coded = ~self.codes.blank[class_code]  # a blank code is no code for the period
        rows = np.flatnonzero(coded)
        slots = class_day[rows] * len(ALL_PERIODS) + class_period[rows]
        if len(np.unique(slots)) != len(slots):
            raise _NotPlain("a period given twice in one day")
        # The class row of each day and period (-1: none), as a days x periods matrix.
        flat_rows = np.full(count * len(ALL_PERIODS), -1, dtype=np.int64)
        flat_rows[slots] = rows
        self.row = flat_rows.reshape(count, len(ALL_PERIODS))
        self.has = self.row >= 0
        self.sections = sections
        self.coded_count = self.has.sum(axis=1)
        # The code of each day and period as an index into the distinct codes (-1: none); with False
        # appended to each verdict, -1 reads as "not absent", "not tardy".
        code_of = np.full(self.row.shape, -1, dtype=np.int64)
        code_of[self.has] = class_code[self.row[self.has]]
        self.absent = np.append(self.codes.absent, False)[code_of]
        self.tardy_count = np.append(self.codes.tardy, False)[code_of].sum(axis=1)
        self._code_of = code_of

    def columns(self, meeting: np.ndarray, nulls: NullColumns) -> Dict[str, pa.Array]:
        """The 30 period columns: a met period without a code is present; an unmet one without a code is NULL."""
        statuses = pa.array([*self.codes.status, PRESENT], pa.string())
        present = len(statuses) - 1
        out: Dict[str, pa.Array] = {}
        for p, period in enumerate(ALL_PERIODS):
            has = self.has[:, p]
            status = np.where(has, self._code_of[:, p], np.where(meeting[:, p], present, -1))
            out[f"period_{period}_status"] = _take_or_null(statuses, status, nulls)
            out[f"period_{period}_code"] = _take_or_null(self.codes.texts, np.where(has, self._code_of[:, p], -1),
                                                         nulls)
            out[f"period_{period}_section"] = _take_or_null(self.sections, self.row[:, p], nulls)
        return out


def _day_facts(ctx: SchoolContext, text: str) -> Any:
    try:
        return ctx.day_facts(text)
    except RejectedRecord as exc:
        raise _NotPlain(str(exc)) from None


def _check_one_record_per_day(student_ids: np.ndarray, ordinals: np.ndarray) -> None:
    order = np.lexsort((ordinals, student_ids))
    same = (student_ids[order][1:] == student_ids[order][:-1]) & (ordinals[order][1:] == ordinals[order][:-1])
    if same.any():
        raise _NotPlain("a second record of the same student and day")


def _codes(ctx: SchoolContext, texts: pa.Array) -> _Codes:
    """Judge each distinct code text as `attendance_day_row` does: blank is no code, else it must be known."""
    blank, status, absent, tardy = [], [], [], []
    for text in texts.to_pylist():
        is_blank = not text.strip()
        code: Optional[AbsenceCode] = None if is_blank else ctx.codes.get(text)
        if not is_blank and code is None:
            raise _NotPlain("an unknown absence code")
        blank.append(is_blank)
        status.append(code.status if code else None)
        absent.append(code is not None and is_absence(code.type_code))
        tardy.append(code is not None and is_tardy(code.type_code))
    return _Codes(texts, np.array(blank, dtype=bool), status, np.array(absent, dtype=bool),
                  np.array(tardy, dtype=bool))


def _distinct(values: pa.Array) -> Tuple[pa.Array, np.ndarray]:
    """The distinct values of a column without nulls, and each row's index into them."""
    encoded = pc.dictionary_encode(values)
    return encoded.dictionary, _take_numpy(encoded.indices)


def _take_numpy(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _indices(positions: np.ndarray) -> pa.Array:
    """Positions as Arrow indices, -1 as NULL (a `take` then gives NULL there)."""
    return pa.array(positions, type=pa.int64(), mask=positions < 0)


def _take(values: pa.Array, indices: Any) -> pa.Array:
    return pc.take(values, indices)


def _take_or_null(values: pa.Array, positions: np.ndarray, nulls: NullColumns) -> pa.Array:
    """`values` at `positions` (-1: NULL); the table's shared NULL column when every position is -1."""
    if not (positions >= 0).any():
        return nulls.of(values.type)
    return _take(values, _indices(positions))


def _texts_where(texts: pa.Array, index: np.ndarray, keep: np.ndarray) -> pa.Array:
    return _take(texts, _indices(np.where(keep, index, -1)))


def _pseudonyms(student_ids: pa.Array, pseudonymizer: Pseudonymizer) -> pa.Array:
    if not pseudonymizer.enabled:
        return student_ids
    distinct, index = _distinct(student_ids)
    mapped = pa.array([pseudonymizer.student_id(s) for s in distinct.to_pylist()], pa.int64())
    return _take(mapped, pa.array(index))


def batch_values_of(batch: Batch, run_id: str) -> Dict[str, Any]:
    """The columns that hold one value on every row of a batch's table."""
    return {"sync_run_id": run_id, "sync_batch": batch.number,
            "sync_batch_start": batch.start, "sync_batch_end": batch.end}
