"""AeriesSimulator: the in-process facade over state, routes, faults and the HTTP server."""

from __future__ import annotations

import logging
import ssl
import threading
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any

from . import history, payloads
from .dispatch import RequestRecord, dispatch
from .district import School
from .faults import FaultPlan
from .routes import Options
from .server import LOOPBACK, RequestHandler, ServerThread
from .spec import DistrictSpec
from .state import DistrictState

logger = logging.getLogger(__name__)

DEFAULT_CERTIFICATE = "SIMULATOR0CERTIFICATE00000000001"


class AeriesSimulator:
    """An offline Aeries SIS v5 server for a synthetic district (all names and data are fake).

    Use ``start()``/``stop()`` or a ``with`` block; the API lives under ``base_url + "/api/v5"``.
    """

    def __init__(self, spec: DistrictSpec | None = None, certificate: str = DEFAULT_CERTIFICATE,
                 admin_routes: bool = False, *, include_empty_students: bool = False,
                 attendance_404_when_empty: bool = False, classes_absent_for_daily: bool = False,
                 fault_hang_seconds: float = 30.0, fault_latency_seconds: float = 0.5) -> None:
        """Generate the district (attendance stays lazy) without opening any socket.

        Args:
            spec: District parameters; defaults to ``DistrictSpec()``.
            certificate: The AERIES-CERT value clients must send.
            admin_routes: Serve the /_admin/ routes (off by default).
            include_empty_students: School-wide attendance also lists students without days.
            attendance_404_when_empty: School-wide attendance answers 404 instead of [].
            classes_absent_for_daily: Daily schools omit "Classes" instead of sending [].
            fault_hang_seconds: How long a HANG fault holds a request.
            fault_latency_seconds: Delay added by a LATENCY fault.
        """
        self.spec = spec or DistrictSpec()
        self.certificate = certificate
        self.admin_routes = admin_routes
        self.options = Options(include_empty_students, attendance_404_when_empty, classes_absent_for_daily)
        self.fault_hang_seconds = fault_hang_seconds
        self.fault_latency_seconds = fault_latency_seconds
        self.faults: FaultPlan = FaultPlan()
        self._state = DistrictState(self.spec)
        self._log_lock = threading.Lock()
        self._request_log: list[RequestRecord] = []
        self._stopping = threading.Event()
        self._server: ServerThread | None = None

    # ----- lifecycle ---------------------------------------------------------------------
    def start(self, host: str = LOOPBACK, port: int = 0,
              ssl_context: ssl.SSLContext | None = None) -> AeriesSimulator:
        """Serve on 127.0.0.1 in a background thread; returns self.

        Args:
            host: Must be 127.0.0.1: the simulator never listens on other interfaces.
            port: TCP port, 0 for an ephemeral one.
            ssl_context: Server-side TLS context (e.g. from ``tls_server_context(certfile, keyfile)``
                or ``trustme``); when given the simulator serves HTTPS and ``base_url`` starts with
                ``https://``. None (the default) serves plain HTTP.

        Returns:
            This simulator.
        """
        if host not in (LOOPBACK, "localhost"):
            raise ValueError("the simulator only binds 127.0.0.1")
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        self._server = ServerThread(port, self._dispatch, ssl_context)
        self._server.start()
        logger.info("Aeries simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests are released."""
        self._stopping.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> AeriesSimulator:
        """Start on 127.0.0.1 with an ephemeral port."""
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stop the server."""
        self.stop()

    @property
    def base_url(self) -> str:
        """District root URL, e.g. http://127.0.0.1:43567 or https://... (the API is under /api/v5)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start()")
        return f"{self._server.scheme}://{LOOPBACK}:{self._server.port}"

    def _dispatch(self, handler: RequestHandler) -> None:
        dispatch(self, handler)

    # ----- request log -------------------------------------------------------------------
    def _log(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._request_log.append(record)

    @property
    def request_log(self) -> list[RequestRecord]:
        """API requests served so far (admin requests excluded), oldest first."""
        with self._log_lock:
            return list(self._request_log)

    def clear_request_log(self) -> None:
        """Forget logged requests."""
        with self._log_lock:
            self._request_log.clear()

    # ----- clock -------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """Simulated local time (naive)."""
        return self._state.now

    @property
    def today(self) -> date:
        """Simulated date."""
        return self._state.today

    def advance_clock(self, days: int = 0, hours: int = 0, minutes: int = 0) -> None:
        """Move the simulated clock forward (new school days become visible, months lock)."""
        self._state.advance(timedelta(days=days, hours=hours, minutes=minutes))

    # ----- truth -------------------------------------------------------------------------
    def school_codes(self, active_only: bool = True) -> list[int]:
        """Return school codes: real active schools, or every code including 0 and the setup school."""
        return [s.code for s in self._state.district.schools if s.is_real or not active_only]

    def school_periods(self, school_code: int) -> list[str]:
        """Return the periods a school takes attendance in ([] for a daily school)."""
        school = self._state.district.school(school_code)
        if school is None:
            raise KeyError(f"no school {school_code}")
        return list(school.periods)

    def truth_attendance(self, school_code: int, start: date, end: date) -> list[dict[str, Any]]:
        """Return every sparse student-day the server holds in [start, end], by (student_id, date).

        Args:
            school_code: School code.
            start: First date, inclusive.
            end: Last date, inclusive.

        Returns:
            Dicts with school_code, student_id, date, all_day_code and classes (period, section, code).
        """
        school = self._state.district.school(school_code)
        if school is None:
            raise KeyError(f"no school {school_code}")
        rows = []
        for record, days in self._state.attendance(self._state.district, school, start, end):
            for ordinal, (all_day, classes) in days:
                rows.append({"school_code": school_code, "student_id": record.student_id,
                             "date": date.fromordinal(ordinal), "all_day_code": all_day,
                             "classes": [{"period": p, "section": sec, "code": code} for p, sec, code in classes]})
        return rows

    def truth_schools(self) -> list[dict[str, Any]]:
        """Return exactly what GET /schools returns."""
        district = self._state.district
        return [payloads.school(s, district) for s in district.schools]

    def truth_calendar(self, school_code: int) -> list[dict[str, Any]]:
        """Return exactly what GET /schools/{sc}/calendar returns."""
        district = self._state.district
        return payloads.calendar(self._school(school_code), district,
                                 self._state.locked_months(school_code, district))

    def truth_absence_codes(self, school_code: int) -> list[dict[str, Any]]:
        """Return exactly what GET /schools/{sc}/AbsenceCodes returns."""
        return payloads.absence_codes(self._school(school_code))

    def truth_students(self, school_code: int) -> list[dict[str, Any]]:
        """Return exactly what GET /schools/{sc}/students returns (inactive records included)."""
        self._school(school_code)
        return [payloads.student(r) for r in self._state.district.records_of(school_code)]

    def truth_enrollment(self, school_code: int) -> list[dict[str, Any]]:
        """Return exactly what GET /schools/{sc}/enrollment/0/year/{school_year} returns."""
        self._school(school_code)
        return [payloads.enrollment(r, self.spec.school_year)
                for r in self._state.district.records_of(school_code)]

    def truth_student_days(self, school_code: int, through: date | None = None) -> list[dict[str, Any]]:
        """Return one row per student and enrolled instructional day, as history is counted.

        A day counts when EnterDate <= day < LeaveDate (a LeaveDate day is not enrolled) and day <=
        ``through``; days after the simulated today never count. Codes are those the attendance route
        serves; scripted history adjustments do not show here.

        Args:
            school_code: School code.
            through: Last day, inclusive; defaults to today.

        Returns:
            Dicts with school_code, student_id, attendance_date (date), grade (int), is_full_day_absent
            (bool), absence_kind ("excused", "unexcused", "unverified", "suspension" or None),
            tardy_count (int) and truancy_event (bool), ordered by student then date.
        """
        return history.student_days(self._state, school_code, through)

    def truth_history_summary(self, school_code: int) -> list[dict[str, Any]]:
        """Return exactly what GET /schools/{sc}/AttendanceHistory/summary/year/{school year} returns."""
        if not self._school(school_code).is_real:
            return []
        return history.year_summaries(self._state, school_code)

    def _school(self, school_code: int) -> School:
        school = self._state.district.school(school_code)
        if school is None:
            raise KeyError(f"no school {school_code}")
        return school

    # ----- changes -----------------------------------------------------------------------
    def set_attendance(self, school_code: int, student_id: int, day: date, all_day_code: str | None = None,
                       classes: dict[str, str | None] | None = None) -> None:
        """Change one student-day; None keeps the all-day code, a None period code removes it."""
        self._state.set_day(school_code, student_id, day, all_day_code, classes)

    def clear_absence(self, school_code: int, student_id: int, day: date) -> None:
        """Remove all codes of a student-day: the student was present."""
        self._state.clear(school_code, student_id, day)

    def excuse_absence(self, school_code: int, student_id: int, day: date) -> None:
        """Turn every unverified (TypeCode 1) code that day into the excused code "I" (TypeCode 2)."""
        self._state.excuse(school_code, student_id, day)

    def add_period_code(self, school_code: int, student_id: int, day: date, period: str, code: str) -> None:
        """Record a code for one period (the all-day code is left as it was)."""
        self._state.set_day(school_code, student_id, day, None, {period: code})

    def clear_school_day(self, school_code: int, day: date) -> None:
        """Remove every code of every student at a school that day."""
        self._state.clear_school_day(school_code, day)

    def enroll_student(self, school_code: int, grade: int, enter_date: date) -> int:
        """Enroll a new synthetic student; returns the new StudentID."""
        return self._state.enroll(school_code, grade, enter_date)

    def withdraw_student(self, school_code: int, student_id: int, leave_date: date) -> None:
        """Withdraw a student as of ``leave_date`` (may be backdated)."""
        self._state.withdraw(school_code, student_id, leave_date)

    def adjust_history(self, school_code: int, student_id: int, field: str, delta: int) -> None:
        """Make the served history summary of a student at a school diverge from its attendance.

        Afterwards ``field`` (e.g. "DaysAbsence") of that summary is off by ``delta`` wherever it is
        served; repeated calls add up, and the offset survives clock advances and attendance changes.

        Args:
            school_code: Real school code.
            student_id: Student with a record at that school.
            field: A summary counter, e.g. "DaysAbsence" or "DaysTardy".
            delta: Amount added to the computed value (negative subtracts).
        """
        self._state.adjust_history(school_code, student_id, field, delta)

    def lock_month(self, school_code: int, attendance_month: int) -> None:
        """Lock an attendance month at a school."""
        self._state.lock_month(school_code, attendance_month)

    def first_unlocked_day(self, school_code: int) -> date | None:
        """Return the first calendar day whose attendance month is unlocked, or None."""
        return self._state.first_unlocked_day(school_code)
