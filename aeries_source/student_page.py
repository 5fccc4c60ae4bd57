"""A page of Aeries students parsed by Arrow into only the chosen fields, when their types are documented."""

import functools
from typing import Any, Callable, Dict, List, Optional, Sequence

import pyarrow as pa

from aeries_source.arrow_json import decoded, read_array

# JSON types of the student fields (../shared/aeries-api.md section 4.1); datetimes come as text.
# `EarlyWarningPoints` (a JSON number that may be written 34 or 34.0) is left out: Arrow would make
# every value a float where orjson keeps 34 an int, so a selection with it is decoded as before.
_INT = ("StudentID", "OldStudentID", "SchoolCode", "StudentNumber", "Grade", "LowSchedulingPeriod",
        "HighSchedulingPeriod", "FamilyKey", "CounselorNumber", "NextSchoolCode", "NextGrade")
_BOOL = ("AddressVerified",)
_TEXT = (
    "StateStudentID", "LastName", "FirstName", "MiddleName", "LastNameAlias", "FirstNameAlias",
    "MiddleNameAlias", "Gender", "GradeLevelShortDescription", "GradeLevelLongDescription", "Birthdate",
    "ParentGuardianName", "HomePhone", "StudentMobilePhone", "MailingAddress", "MailingAddressCity",
    "MailingAddressState", "MailingAddressZipCode", "MailingAddressZipExt", "ResidenceAddress",
    "ResidenceAddressCity", "ResidenceAddressState", "ResidenceAddressZipCode", "ResidenceAddressZipExt",
    "EthnicityCode", *(f"RaceCode{n}" for n in range(1, 6)), *(f"UserCode{n}" for n in range(1, 14)),
    "SchoolEnterDate", "DistrictEnterDate", "SchoolLeaveDate", "Track", "LockerNumber",
    "AttendanceProgramCodePrimary", "AttendanceProgramCodeAdditional1", "AttendanceProgramCodeAdditional2",
    "InactiveStatusCode", "LanguageFluencyCode", "HomeLanguageCode", "CorrespondenceLanguageCode",
    "ParentEdLevelCode", "NotificationPreferenceCode", "RecordsReleaseCode", "ParentEmailAddress",
    "StudentEmailAddress", "StudentPersonalEmailAddress", "NetworkLoginID", "HomeRoomTeacherNumber",
    "NextGradeLevelShortDescription", "NextGradeLevelLongDescription",
)
STUDENT_FIELD_TYPES: Dict[str, pa.DataType] = {
    **{name: pa.int64() for name in _INT}, **{name: pa.bool_() for name in _BOOL},
    **{name: pa.string() for name in _TEXT},
}


class StudentPage(List[Dict[str, Any]]):
    """A page of student records; when `projected`, each record holds only the chosen fields.

    A projected record has every chosen field, NULL where Aeries sent null or left it out: either
    way the row's column is NULL. `full()` decodes the body the usual way, for the pages whose
    records need all their fields (the rejects table keeps a rejected record as Aeries sent it).
    """

    def __init__(self, records: List[Dict[str, Any]], body: bytes, projected: bool) -> None:
        super().__init__(records)
        self.body = body
        self.projected = projected

    def full(self) -> List[Dict[str, Any]]:
        """The page's records decoded with every field, as Aeries sent them."""
        return decoded(self.body) if self.projected else list(self)


def page_parser(fields: Sequence[str]) -> Optional[Callable[[bytes], StudentPage]]:
    """Return a parser of student pages into `fields`, or None when a field's JSON type is not documented."""
    if not fields or any(name not in STUDENT_FIELD_TYPES for name in fields):
        return None
    return functools.partial(parse_student_page, tuple(dict.fromkeys(fields)))


def parse_student_page(fields: Sequence[str], body: bytes) -> StudentPage:
    """Parse a students response into records of only `fields`, by Arrow when every value has its documented type.

    A decoded Aeries student carries about a hundred fields, of which a sync keeps a few: decoding
    them all was the largest Python allocation of a full sync (two pages of a thousand students
    alive at once were 34 MiB at its peak) and a fifth of its Python time. Arrow parses the body
    without a Python object per value and skips the other fields. Any value of another JSON type, a
    chosen key given twice, or a body that is not an array of objects makes Arrow refuse, and the
    page is decoded whole, as before; so is a body orjson would refuse (`arrow_json.read_array`).

    Raises:
        orjson.JSONDecodeError: When the body is not JSON at all (the client retries it as a
            malformed response).
    """
    ordered = sorted(fields, key=lambda name: _first_at(body, name))
    records = read_array(body, pa.struct([(name, STUDENT_FIELD_TYPES[name]) for name in ordered]))
    if records is None or records.null_count:  # a null element: decoded whole, so it is rejected as sent
        return StudentPage(decoded(body), body, projected=False)
    return StudentPage(records.to_pylist(), body, projected=True)


def _first_at(body: bytes, name: str) -> int:
    """Where a field's key first occurs, so projected records keep the order Aeries sends fields in."""
    at = body.find(b'"' + name.encode() + b'":')
    return at if at >= 0 else len(body)

