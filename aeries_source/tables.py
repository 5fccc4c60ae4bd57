"""Every table the source writes: its name, keys and declared columns, each declared once here."""

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

import dlt
from dlt.extract.resource import DltResource

from aeries_source.settings import ALL_PERIODS

# The hard-delete flag of tombstone rows: flagged rows take part in a merge's delete, never inserted.
TOMBSTONE_COLUMN = "sync_tombstone"
_TOMBSTONE = {TOMBSTONE_COLUMN: {"data_type": "bool", "hard_delete": True}}


@dataclass(frozen=True)
class Table:
    """One destination table: name, primary key, merge key and the columns declared up front.

    Every table merges. Columns are declared where dlt could not infer them (dates from Aeries'
    text, JSON, columns that may be all NULL) and, for the tables that must exist before their
    first row (`declared_tables`), every column with its type.
    """

    name: str
    primary_key: Tuple[str, ...]
    merge_key: Tuple[str, ...] = ()
    columns: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def hints(self, extra_columns: Optional[Mapping[str, Mapping[str, Any]]] = None) -> Any:
        """Return dlt hints for items of this table (a fresh dict per use: dlt may modify hints it is given)."""
        columns: Dict[str, Any] = {name: dict(spec) for name, spec in self.columns.items()}
        for name, spec in (extra_columns or {}).items():
            columns[name] = {**columns.get(name, {}), **spec}
        return dlt.mark.make_hints(
            table_name=self.name, write_disposition="merge", primary_key=list(self.primary_key),
            merge_key=list(self.merge_key) if self.merge_key else None, columns=columns,
        )

    def declare_on(self, resource: DltResource) -> None:
        """Register this table's hints on a resource that writes it beside other tables.

        The resource's items for this table then carry only its name (`dlt.mark.with_table_name`).
        Items that carry hints instead (`dlt.mark.with_hints`) make dlt recompute and revalidate the
        table schemas of the whole extract, for each such item: 13 % of a full-year sync's time
        when every attendance item carried them (profiled).
        """
        resource.apply_hints(table_name=self.name, create_table_variant=True, **self._hint_args())

    def resource_args(self) -> Dict[str, Any]:
        """Return the keyword arguments of `dlt.resource` for a resource writing only this table."""
        return {"name": self.name, **self._hint_args()}

    def _hint_args(self) -> Dict[str, Any]:
        args: Dict[str, Any] = {"write_disposition": "merge", "primary_key": list(self.primary_key),
                                "columns": {name: dict(spec) for name, spec in self.columns.items()}}
        if self.merge_key:
            args["merge_key"] = list(self.merge_key)
        return args


SCHOOLS = Table("schools", ("school_code",), columns={"terms": {"data_type": "json"}})

# Replaced school by school: the merge key deletes a school's stored rows before its new ones go in.
CALENDAR_DAYS = Table(
    "calendar_days", ("school_code", "calendar_date"), ("school_code",),
    columns={"calendar_date": {"data_type": "date"}, "track_holidays": {"data_type": "json"}},
)
ABSENCE_CODES = Table("absence_codes", ("school_code", "absence_code"), ("school_code",))

# No merge key: a delta load holds only the changed students and must not replace the others.
STUDENTS = Table("students", ("student_id", "school_code"), columns=_TOMBSTONE)

# The merge key replaces all of a student's rows at a school for the year, which serves both a
# full school refresh and a re-fetch of single changed students.
ENROLLMENT = Table(
    "enrollment", ("student_id", "school_code", "academic_year", "enter_date"),
    ("student_id", "school_code", "academic_year"),
    columns={"enter_date": {"data_type": "date", "nullable": False}, "leave_date": {"data_type": "date"},
             "academic_year": {"data_type": "text", "nullable": False}, **_TOMBSTONE},
)

def _period_columns(period: str) -> Dict[str, Dict[str, Any]]:
    """The columns of one period (0-9) in `attendance_records`: status, raw code and section."""
    return {f"period_{period}_status": {"data_type": "text"}, f"period_{period}_code": {"data_type": "text"},
            f"period_{period}_section": {"data_type": "bigint"}}


# Each load replaces whole school-days (merge key). The primary key is needed although a batch
# holds one record per student-day (a retried batch may share days with its school's main range,
# and a replayed load stages a file twice): dlt
# deduplicates the staged rows on it before inserting, and that keeps a load replayed after a kill
# from inserting rows twice (a staging COPY that committed before dlt recorded it runs again on
# the next run; the crash test caught it when the key was dropped). The sync's destinations run
# that deduplication only when a school-day's tombstone was staged twice
# (`aeries_sync.destinations.AttendanceMergeJob`). With both keys dlt would delete
# by `pk OR merge key`, which no database hash-joins; our destinations delete by the merge key
# alone, which is equivalent here (`aeries_sync.destinations.MergeOnMergeKeyJob`).
ATTENDANCE_RECORDS = Table(
    "attendance_records", ("school_code", "student_id", "attendance_date"), ("school_code", "attendance_date"),
    columns={
        "school_code": {"data_type": "bigint", "nullable": False},
        "student_id": {"data_type": "bigint", "nullable": False},
        "attendance_date": {"data_type": "date", "nullable": False},
        "all_day_code": {"data_type": "text"},
        "all_day_status": {"data_type": "text"},
        # Every period's columns, whether or not a school uses the period: one table shape for every
        # school and batch, so each batch's Arrow table loads as written (`attendance_table`), and
        # the table exists with all its columns before any attendance is read.
        **{name: spec for p in ALL_PERIODS for name, spec in _period_columns(p).items()},
        "is_full_day_absent": {"data_type": "bool"},
        "is_present": {"data_type": "bool"},
        "tardy_count": {"data_type": "bigint"},
        "can_be_corrected": {"data_type": "bool"},
        "correction_deadline": {"data_type": "date"},
        "sync_batch_start": {"data_type": "date"},
        "sync_batch_end": {"data_type": "date"},
        "sync_batch": {"data_type": "bigint"},
        "sync_run_id": {"data_type": "text"},
        **_TOMBSTONE,
    },
)

# Every column declared with its type (the row is `rejects.reject_row`): the table exists before the
# first reject.
REJECTS = Table(
    "rejects", ("reject_id",),
    columns={"reject_id": {"data_type": "text", "nullable": False},
             "school_code": {"data_type": "bigint"},
             "endpoint": {"data_type": "text"},
             "batch_start": {"data_type": "date"}, "batch_end": {"data_type": "date"},
             "reason": {"data_type": "text"},
             "raw_payload": {"data_type": "text"},
             "sync_run_id": {"data_type": "text"},
             "rejected_at": {"data_type": "timestamp"}},
)

# One row per batch of a sync (`tracking.batch_row`), every column declared.
SYNC_BATCHES = Table(
    "sync_batches", ("operation_id", "batch"),
    columns={
        "operation_id": {"data_type": "text", "nullable": False},
        "batch": {"data_type": "bigint", "nullable": False},
        "school_code": {"data_type": "bigint"},
        "batch_start": {"data_type": "date"},
        "batch_end": {"data_type": "date"},
        "status": {"data_type": "text"},
        "rows": {"data_type": "bigint"},
        "requests": {"data_type": "bigint"},
        "seconds": {"data_type": "double"},
        "error_class": {"data_type": "text", "nullable": True},
        "finished_at": {"data_type": "timestamp"},
    },
)

DATA_THROUGH = Table(
    "data_through", ("school_code",),
    columns={
        "school_code": {"data_type": "bigint", "nullable": False},
        "data_through": {"data_type": "date"},
        "server_date": {"data_type": "date"},
        "synced_at": {"data_type": "timestamp"},
        "operation_id": {"data_type": "text"},
    },
)

# Aeries's own yearly counts (AttendanceHistory summary), for `attendance_reconciliation`. Each
# load replaces a school's rows for the year (merge key).
ATTENDANCE_HISTORY_COUNTS = (
    "days_enrolled", "days_present", "days_absence", "days_excused", "days_unexcused", "days_tardy",
    "days_of_truancy", "days_suspension", "days_in_school_suspension", "days_complete_independent_study",
    "days_incomplete_independent_study", "periods_expected_to_attend", "periods_attended",
    "periods_out_of_school_suspension", "periods_attended_in_school_suspension", "periods_excused_absence",
    "periods_unexcused_absence", "periods_complete_independent_study", "periods_incomplete_independent_study",
)
ATTENDANCE_HISTORY_SUMMARY = Table(
    "attendance_history_summary", ("school_code", "student_id", "school_year"), ("school_code", "school_year"),
    columns={
        "school_code": {"data_type": "bigint", "nullable": False},
        "student_id": {"data_type": "bigint", "nullable": False},
        "school_year": {"data_type": "text", "nullable": False},
        "reporting_school_code": {"data_type": "bigint"},
        "attendance_program_code_primary": {"data_type": "text"},
        **{name: {"data_type": "bigint"} for name in ATTENDANCE_HISTORY_COUNTS},
    },
)

ALL_TABLES: Tuple[Table, ...] = (
    SCHOOLS, CALENDAR_DAYS, ABSENCE_CODES, STUDENTS, ENROLLMENT, ATTENDANCE_RECORDS, REJECTS, SYNC_BATCHES,
    DATA_THROUGH, ATTENDANCE_HISTORY_SUMMARY,
)
BY_NAME: Dict[str, Table] = {table.name: table for table in ALL_TABLES}
