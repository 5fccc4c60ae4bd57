"""An attendance response as Aeries sent it, parsed by Arrow into columns when it has the documented shape."""

from typing import Any, Dict, List, Optional

import pyarrow as pa

from aeries_source.arrow_json import decoded, read_array

# The documented shape of `GET /schools/{sc}/attendance` (../shared/aeries-api.md section 5.1),
# typed exactly: Arrow's reader refuses any value of another JSON type (a numeric code, a string
# StudentID, a float section, a key given twice), and such a body takes the row-by-row path with
# its per-record rejects instead.
_CLASS = pa.struct([("SectionNumber", pa.int64()), ("Period", pa.string()), ("AttendanceCode", pa.string())])
_DAY = pa.struct([("CalendarDate", pa.string()), ("AllDayAttendanceCode", pa.string()),
                  ("Classes", pa.list_(_CLASS))])
_STUDENT = pa.struct([("StudentID", pa.int64()), ("AttendanceDays", pa.list_(_DAY))])


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
            self._records = decoded(self.body)
        return self._records


def parse_attendance(body: bytes) -> AttendanceResponse:
    """Parse an attendance response body, into Arrow columns when it has the documented shape.

    Raises:
        orjson.JSONDecodeError: When the body is not JSON at all (the client retries it as a
            malformed response).
    """
    students = read_array(body, _STUDENT)
    if students is None:
        return AttendanceResponse(body, None, decoded(body))
    return AttendanceResponse(body, students)
