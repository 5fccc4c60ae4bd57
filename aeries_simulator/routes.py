"""The Aeries v5 route table: match a path, then turn a request into a JSON response."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from . import history, payloads
from .district import District, School
from .jsonio import dumps
from .state import STUDENT_AREAS, DistrictState

API_PREFIX = "/api/v5"
_TZ = ZoneInfo("America/Los_Angeles")  # the synthetic district sits in Pacific time, like most Aeries hosts


@dataclass
class Response:
    """An HTTP response before it is written."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """Switches for behaviour the Aeries documentation leaves open."""

    include_empty_students: bool = False  # school-wide attendance also lists students with no days
    attendance_404_when_empty: bool = False  # school-wide attendance answers 404 instead of []
    classes_absent_for_daily: bool = False  # daily schools omit "Classes" instead of sending []


@dataclass
class Request:
    """What a handler needs from one HTTP request."""

    params: dict[str, str]  # path parameters
    query: dict[str, str]  # lower-cased keys
    district: District
    state: DistrictState
    options: Options


def json_response(value: Any, status: int = 200) -> Response:
    """Return a JSON response."""
    return Response(status, dumps(value), {"Content-Type": "application/json; charset=utf-8"})


def message(status: int, text: str, **extra: str) -> Response:
    """Return an error response with the Aeries {"Message": ...} body."""
    return json_response({"Message": text, **extra}, status)


class HttpError(Exception):
    """Raised by handlers to answer with a Message body."""

    def __init__(self, status: int, text: str) -> None:
        """Carry a status and message."""
        super().__init__(text)
        self.status = status
        self.text = text


# ----- helpers ----------------------------------------------------------------------------------
def _school(req: Request, allow_pseudo: bool = True) -> School:
    school = req.district.school(int(req.params["sc"]))
    if school is None or (not allow_pseudo and not school.is_real):
        raise HttpError(404, f"School {req.params['sc']} does not exist")
    return school


def _yyyymmdd(value: str | None, default: date, name: str) -> date:
    if value is None or value == "":
        return default
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise HttpError(400, f"{name} must be YYYYMMDD, got {value!r}") from None


def _paged(rows: list[Any], query: dict[str, str]) -> list[Any]:
    """Apply StartingRecord/EndingRecord (1-based, inclusive) to an ordered list."""
    start_raw, end_raw = query.get("startingrecord"), query.get("endingrecord")
    if start_raw is None and end_raw is None:
        return rows
    try:
        start = max(1, int(start_raw)) if start_raw else 1
        end = int(end_raw) if end_raw else len(rows)
    except ValueError:
        raise HttpError(400, "StartingRecord and EndingRecord must be integers") from None
    return rows[start - 1:end] if end >= start else []


# ----- handlers ---------------------------------------------------------------------------------
def system_info(req: Request) -> Response:
    """GET systeminfo."""
    now = req.state.now
    offset = now.replace(tzinfo=_TZ).strftime("%z")
    return json_response(payloads.system_info(now, f"{offset[:3]}:{offset[3:]}", req.district.spec.school_year,
                                              req.state.available_years))


def schools(req: Request) -> Response:
    """GET schools and schools/{sc}."""
    if "sc" in req.params:
        return json_response([payloads.school(_school(req), req.district)])
    return json_response([payloads.school(s, req.district) for s in req.district.schools])


def calendar(req: Request) -> Response:
    """GET schools/{sc}/calendar."""
    school = _school(req)
    return json_response(payloads.calendar(school, req.district, req.state.locked_months(school.code, req.district)))


def absence_codes(req: Request) -> Response:
    """GET schools/{sc}/AbsenceCodes[/{code}]."""
    rows = payloads.absence_codes(_school(req))
    if "code" in req.params:
        rows = [r for r in rows if r["AbsenceCode"].lower() == req.params["code"]]
        if not rows:
            raise HttpError(404, f"Absence code {req.params['code'].upper()} does not exist")
    return json_response(rows)


def terms(req: Request) -> Response:
    """GET schools/{sc}/terms."""
    school = _school(req)
    return json_response(payloads.terms(req.district) if school.is_real else [])


def students(req: Request) -> Response:
    """GET schools/{sc}/students[/{id} | /grade/{g} | /sn/{n}] with paging."""
    school = _school(req)
    records = req.district.records_of(school.code)
    if "id" in req.params:
        student_id = int(req.params["id"])
        if not req.district.student_exists(student_id):
            raise HttpError(404, f"Student {student_id} does not exist")
        records = [r for r in records if r.student_id == student_id]  # scoped to the school: [] if none
    elif "grade" in req.params:
        records = [r for r in records if r.grade == int(req.params["grade"])]
    elif "sn" in req.params:
        records = [r for r in records if r.student_number == int(req.params["sn"])]
    return json_response([payloads.student(r) for r in _paged(records, req.query)])


def enrollment(req: Request) -> Response:
    """GET [schools/{sc}/]enrollment/{id}[/year/{yyyy}]; id 0 means every student."""
    year = int(req.params["year"]) if "year" in req.params else None
    districts = [req.state.district_for(y) for y in req.state.available_years
                 if year is None or y == year]
    if year is not None and year not in req.state.available_years:
        districts = []
    student_id = int(req.params["id"])
    codes = [_school(req).code] if "sc" in req.params else None
    rows = []
    for district in sorted(districts, key=lambda d: d.spec.school_year):
        for code in codes or list(district.records):
            for r in district.records_of(code):
                if student_id in (0, r.student_id):
                    rows.append(payloads.enrollment(r, district.spec.school_year))
    return json_response(rows)


def attendance(req: Request) -> Response:
    """GET schools/{sc}/attendance[/{id}]?StartDate=YYYYMMDD&EndDate=YYYYMMDD."""
    school = _school(req)
    cal = req.district.calendar
    start = _yyyymmdd(req.query.get("startdate"), cal.first_day, "StartDate")
    end = _yyyymmdd(req.query.get("enddate"), cal.last_day, "EndDate")
    student_id = int(req.params["id"]) if "id" in req.params else None
    if not school.is_real:
        return json_response([])
    classes_key = not (req.options.classes_absent_for_daily and not school.periods)
    out = []
    for record, days in req.state.attendance(req.district, school, start, end, student_id):
        listed = req.options.include_empty_students and record.enter_date <= end and (
            record.leave_date is None or record.leave_date >= start)  # enrolled during the window
        if days or student_id is not None or listed:
            out.append({"StudentID": record.student_id,
                        "AttendanceDays": payloads.attendance_days(days, classes_key)})
    if not out and student_id is None and req.options.attendance_404_when_empty:
        raise HttpError(404, "No attendance records were found")
    return json_response(out)


def data_changes(req: Request) -> Response:
    """GET StudentDataChanges/{area}/{y}/{m}/{d}/{h}/{min}."""
    area = req.params["area"]
    if area not in STUDENT_AREAS:
        raise HttpError(404, f"Unknown data area {area!r}; use one of {', '.join(STUDENT_AREAS)}")
    try:
        since = datetime(int(req.params["y"]), int(req.params["m"]), int(req.params["d"]),
                         int(req.params["h"]), int(req.params["min"]))
    except ValueError as exc:
        raise HttpError(400, f"Invalid date: {exc}") from None
    if not req.state.is_current(req.district):
        return json_response([])
    return json_response([{"StudentID": c.student_id, "SchoolCode": c.school_code,
                           "StudentNumber": c.student_number}
                          for c in req.state.changes_since(area, since)])


_HISTORY_YEAR = re.compile(r"(\d{4})-(\d{4})")


def history_by_year(req: Request) -> Response:
    """GET schools/{sc}/AttendanceHistory/summary/year/{yyyy-yyyy}.

    History exists only for the simulator's school year, whatever the DatabaseYear: the year is in
    the path, as with enrollment's /year/{yyyy}. Other years answer [].
    """
    school = _school(req)
    label = req.params["hyear"]
    found = _HISTORY_YEAR.fullmatch(label)
    if found is None or int(found.group(2)) != int(found.group(1)) + 1:
        raise HttpError(400, f"year must be yyyy-yyyy with consecutive years, e.g. 2024-2025, got {label!r}")
    if int(found.group(1)) != req.state.spec.school_year or not school.is_real:
        return json_response([])
    return json_response(history.year_summaries(req.state, school.code))


def history_by_student(req: Request) -> Response:
    """GET schools/{sc}/AttendanceHistory/summary/{id}: the student's history at every school."""
    _school(req)
    student_id = int(req.params["id"])
    if not req.state.district.student_exists(student_id):
        raise HttpError(404, f"Student {student_id} does not exist")
    return json_response(history.student_summaries(req.state, student_id))


# ----- route table ------------------------------------------------------------------------------
Handler = Callable[[Request], Response]

_ROUTES: list[tuple[str, str, Handler]] = [
    # (fault route name, pattern over the lower-cased path after /api/v5, handler)
    ("systeminfo", r"systeminfo", system_info),
    ("schools", r"schools", schools),
    ("schools", r"schools/(?P<sc>\d+)", schools),
    ("calendar", r"schools/(?P<sc>\d+)/calendar", calendar),
    ("absencecodes", r"schools/(?P<sc>\d+)/absencecodes(?:/(?P<code>[a-z0-9]))?", absence_codes),
    ("terms", r"schools/(?P<sc>\d+)/terms", terms),
    ("students", r"schools/(?P<sc>\d+)/students", students),
    ("students", r"schools/(?P<sc>\d+)/students/(?P<id>\d+)", students),
    ("students", r"schools/(?P<sc>\d+)/students/grade/(?P<grade>-?\d+)", students),
    ("students", r"schools/(?P<sc>\d+)/students/sn/(?P<sn>\d+)", students),
    ("enrollment", r"(?:schools/(?P<sc>\d+)/)?enrollment/(?P<id>\d+)(?:/year/(?P<year>\d{4}))?", enrollment),
    ("attendance", r"schools/(?P<sc>\d+)/attendance(?:/(?P<id>\d+))?", attendance),
    ("attendancehistory", r"schools/(?P<sc>\d+)/attendancehistory/summary/year/(?P<hyear>[^/]+)", history_by_year),
    ("attendancehistory", r"schools/(?P<sc>\d+)/attendancehistory/summary/(?P<id>\d+)", history_by_student),
    ("datachanges", r"studentdatachanges/(?P<area>[a-z]+)/(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})"
                    r"/(?P<h>\d{1,2})/(?P<min>\d{1,2})", data_changes),
]
_COMPILED = [(name, re.compile(pattern + r"/?"), handler) for name, pattern, handler in _ROUTES]


@dataclass(frozen=True)
class Match:
    """A matched API route."""

    name: str
    params: dict[str, str]
    handler: Handler

    @property
    def school(self) -> int | None:
        """School code in the path, if any (used to scope faults)."""
        return int(self.params["sc"]) if "sc" in self.params else None


def match(path: str) -> Match | None:
    """Match a request path (case-insensitively) against the API routes.

    Args:
        path: URL path without the query string.

    Returns:
        The match, or None for unknown routes.
    """
    lowered = path.lower()
    if not lowered.startswith(API_PREFIX + "/"):
        return None
    rest = lowered[len(API_PREFIX) + 1:]
    for name, pattern, handler in _COMPILED:
        found = pattern.fullmatch(rest)
        if found:
            return Match(name, {k: v for k, v in found.groupdict().items() if v is not None}, handler)
    return None


def handle(found: Match, query: dict[str, str], state: DistrictState, options: Options) -> Response:
    """Run a matched route: pick the DatabaseYear's district and call the handler.

    Args:
        found: The matched route.
        query: Query parameters with lower-cased keys.
        state: Simulator state.
        options: Behaviour switches.

    Returns:
        The response (errors included).
    """
    year_raw = query.get("databaseyear", "")
    year = int(year_raw) if year_raw.isdigit() else None  # anything else silently means the default year
    request = Request(found.params, query, state.district_for(year), state, options)
    try:
        return found.handler(request)
    except HttpError as exc:
        return message(exc.status, exc.text)


def not_found(method: str, path: str) -> Response:
    """Return the 404 for an unknown route, with a reason."""
    return message(404, f"No HTTP resource was found that matches the request URI '{path}'.",
                   Reason=f"{method} {path} matches no simulated Aeries v5 route; API routes live under "
                          f"{API_PREFIX}/ (systeminfo, schools, schools/{{sc}}/calendar|absencecodes|terms|"
                          f"students|enrollment|attendance|AttendanceHistory/summary, StudentDataChanges/...)")
