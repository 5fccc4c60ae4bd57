"""An attendance response as Aeries sent it, parsed by Arrow into columns when it has the documented shape."""

import io
from typing import Any, Dict, List, Optional

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

# The documented shape of `GET /schools/{sc}/attendance` (../shared/aeries-api.md section 5.1),
# typed exactly: Arrow's reader refuses any value of another JSON type (a numeric code, a string
# StudentID, a float section, a key given twice), and such a body takes the row-by-row path with
# its per-record rejects instead.
_CLASS = pa.struct([("SectionNumber", pa.int64()), ("Period", pa.string()), ("AttendanceCode", pa.string())])
_DAY = pa.struct([("CalendarDate", pa.string()), ("AllDayAttendanceCode", pa.string()),
                  ("Classes", pa.list_(_CLASS))])
_STUDENT = pa.struct([("StudentID", pa.int64()), ("AttendanceDays", pa.list_(_DAY))])
_WRAPPED = pa.schema([("students", pa.list_(_STUDENT))])
_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=_WRAPPED, unexpected_field_behavior="ignore",
                                      newlines_in_values=True)


class AttendanceResponse:
    """One attendance response: its body, and its students as Arrow columns when Arrow could parse it.

    Arrow parses the body without making a Python object per value (a 30-day window of 2,000
    students is about 20,000 days), and releases the GIL while it does, so the threads that read
    ahead parse side by side with the sync's transform. `records()` decodes the body the usual way
    for the row-by-row path, which handles every body that is not exactly the documented shape.
    """

    def __init__(self, body: bytes, students: Optional[pa.StructArray],
                 records: Optional[List[Dict[str, Any]]] = None) -> None:
        self.body = body
        self.students = students
        self._records = records

    def __len__(self) -> int:
        """The number of students in the response."""
        return len(self.students) if self.students is not None else len(self.records())

    def records(self) -> List[Dict[str, Any]]:
        """The response decoded into Python objects: a list of student objects.

        As the client's other routes: JSON `null` is no students, and a bare object is one.
        """
        if self._records is None:
            self._records = _decoded(self.body)
        return self._records


def parse_attendance(body: bytes) -> AttendanceResponse:
    """Parse an attendance response body, into Arrow columns when it has the documented shape.

    Raises:
        orjson.JSONDecodeError: When the body is not JSON at all (the client retries it as a
            malformed response).
    """
    if not arrow_agrees_with_orjson(body):
        return AttendanceResponse(body, None, _decoded(body))
    wrapped = b'{"students":' + body + b"}"
    try:
        table = pa_json.read_json(
            io.BytesIO(wrapped),
            # One block holds the whole body: Arrow's reader needs a row (here the body) within a block.
            read_options=pa_json.ReadOptions(block_size=len(wrapped) + 1, use_threads=False),
            parse_options=_PARSE_OPTIONS,
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return AttendanceResponse(body, None, _decoded(body))
    column = table.column("students")
    if table.num_rows != 1 or column.null_count:  # `null`, or not one JSON value
        return AttendanceResponse(body, None, _decoded(body))
    students = pa.concat_arrays(column.chunks) if column.num_chunks != 1 else column.chunk(0)
    return AttendanceResponse(body, students.flatten())


def arrow_agrees_with_orjson(body: bytes) -> bool:
    """Whether Arrow's JSON reader may read the body: orjson would take every byte of it too.

    Arrow's reader is more lenient than orjson: it takes NaN and Infinity, and it leaves the UTF-8
    of text unchecked (a Latin-1 name in a field it skips, or one it keeps, which then fails where
    the text is used). Such a body is decoded by orjson, which refuses it as before (the client
    retries it as malformed) or, when "NaN" was only inside a string, decodes it. (Arrow still
    takes object members after the array, `[...], "k": v`, as the body is read wrapped in an
    object; no server writes that by accident.)
    """
    if b"NaN" in body or b"Infinity" in body:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decoded(body: bytes) -> List[Dict[str, Any]]:
    decoded = orjson.loads(body)
    return [] if decoded is None else decoded if isinstance(decoded, list) else [decoded]
