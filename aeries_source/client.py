"""HTTP client for the Aeries v5 API: certificate header, DatabaseYear, retries and error classes."""

import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

import orjson
import requests
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import retry_any, retry_if_predicate, wait_exponential_retry_after
from requests import Request, Response
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random,
)

from aeries_source import errors, settings
from aeries_source.attendance_response import AttendanceResponse, parse_attendance
from aeries_source.batching import aeries_date
from aeries_source.dates import parse_server_datetime
from aeries_source.kept_rows import KeptRows
from aeries_source.limiter import RequestLimiter
from aeries_source.paginator import RecordRangePaginator
from aeries_source.stats import RequestStats
from aeries_source.student_page import page_parser

logger = logging.getLogger(__name__)

CERT_HEADER = "AERIES-CERT"


@dataclass
class RetryPolicy:
    """How transient failures are retried: attempts, exponential backoff with jitter, total wait."""

    max_attempts: int = 5
    backoff_factor: float = 1.0
    max_delay: float = 60.0
    max_total_wait: float = 600.0
    jitter: float = 0.5
    timeout: float = 60.0


def normalize_base_url(base_url: str) -> str:
    """Return the district's API root ending in `/api/v5/`, accepting it with or without that suffix.

    Raises:
        AeriesConfigError: When the URL has no http(s) scheme or no host.
    """
    text = (base_url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.AeriesConfigError(
            "base_url must start with https:// (or http://) and name the district's Aeries host"
        )
    root = text.rstrip("/")
    if root.lower().endswith("/" + settings.API_PREFIX):
        root = root[: -len(settings.API_PREFIX) - 1]
    return f"{root}/{settings.API_PREFIX}/"


def _last_outcome(state: RetryCallState) -> Any:
    """Return the last attempt's result, or raise its exception (tenacity's retry_error_callback)."""
    if state.outcome is None:  # tenacity sets it after every attempt, before giving up
        raise RuntimeError("tenacity gave up before any attempt finished")
    return state.outcome.result()


class _RetryingClient(Client):
    """dlt's retrying client, with jitter and a bound on the total wait added.

    dlt's own `Retrying` uses plain exponential backoff and only bounds attempts; many schools
    retrying in lockstep against one district server is exactly what jitter prevents, so the
    retry object is rebuilt here with the same predicate and Retry-After handling.
    """

    def __init__(
        self, policy: RetryPolicy, predicate: Any, before_retry: Any, verify: Union[bool, str],
        limiter: Optional[RequestLimiter] = None, goes_first: Callable[[], bool] = lambda: False,
    ) -> None:
        # Each attempt (retries included) goes through the limiter: set before dlt builds the session.
        self._limiter = limiter
        self._goes_first = goes_first
        super().__init__(
            request_timeout=policy.timeout,
            raise_for_status=False,
            status_codes=(),
            exceptions=(),
            retry_condition=predicate,
            request_max_attempts=policy.max_attempts,
            request_backoff_factor=policy.backoff_factor,
            request_max_retry_delay=policy.max_delay,
            session_attrs={"verify": verify},
        )
        self._policy = policy
        self._predicate = predicate
        self._before_retry = before_retry

    def _make_session(self) -> Any:
        session = super()._make_session()
        policy = self._policy
        retry = Retrying(
            wait=wait_exponential_retry_after(multiplier=policy.backoff_factor, max=policy.max_delay)
            + wait_random(0, policy.jitter),
            retry=retry_any(retry_if_predicate(self._predicate), retry_if_exception_type(())),
            stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_total_wait),
            before_sleep=self._before_retry,
            reraise=True,
            retry_error_callback=_last_outcome,
        )
        # Replaces dlt's retrying `send` on this session; `__wrapped__` (dlt's unwrapped `send`) is set by
        # tenacity's `wraps`, which the stubs cannot know.
        send = session.send.__wrapped__  # type: ignore[attr-defined]
        if self._limiter is not None:
            send = self._limiter.wrap(send, self._goes_first)
        session.send = retry.wraps(send)  # type: ignore[method-assign]
        return session


@dataclass(frozen=True)
class EndpointRead:
    """One successful request: which endpoint, for which school, with which query, how many rows.

    Never a path (student routes carry student ids), only the endpoint's name and its query
    (date windows, record ranges).
    """

    endpoint: str
    school_code: Optional[int]
    query: Dict[str, Any]
    rows: int


class AeriesClient:
    """Talks to one district's Aeries v5 API.

    Every request carries the certificate header and `DatabaseYear`; transient failures are
    retried by dlt's retrying session; what is left is raised as an `AeriesError` whose class says
    whether the run must stop. Logs name endpoints and schools only: never URLs with student ids,
    never the certificate.
    """

    def __init__(
        self,
        base_url: str,
        certificate: str,
        database_year: Optional[int] = None,
        retry: Optional[RetryPolicy] = None,
        verify: Union[bool, str] = True,
        stats: Optional[RequestStats] = None,
        limiter: Optional[RequestLimiter] = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        if not certificate:
            raise errors.AeriesConfigError("the Aeries certificate is empty")
        self._certificate = certificate
        self.database_year = database_year
        self.retry = retry or RetryPolicy()
        self.stats = stats or RequestStats()
        self._local = threading.local()
        self._http = _RetryingClient(self.retry, self._should_retry, self._before_retry, verify, limiter,
                                     self._goes_first)
        # Passed on every request too: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a
        # session's `verify`, which would silently drop a district's CA bundle or `verify_tls = false`.
        self._verify = verify
        self._cache: Dict[Any, Any] = {}
        self._cache_lock = threading.Lock()
        self._key_locks: Dict[Any, threading.Lock] = {}
        # Told of every successful read (endpoint, school, query without secrets, rows): the audit trail.
        self.on_read: Optional[Callable[[EndpointRead], None]] = None

    def __repr__(self) -> str:
        # Never show the certificate.
        return f"AeriesClient(base_url={self.base_url!r}, database_year={self.database_year})"

    # -- retry bookkeeping -------------------------------------------------------------------
    def _should_retry(self, response: Optional[Response], exception: Optional[BaseException]) -> bool:
        """Retry predicate, called by the session after every attempt; also counts attempts.

        The failure class is remembered for `_before_retry`, which counts a retry only when
        another attempt really follows (the predicate also runs after the last attempt).
        """
        endpoint = getattr(self._local, "endpoint", "unknown")
        self.stats.record_attempt(endpoint)
        self._local.attempts = getattr(self._local, "attempts", 0) + 1
        self._local.last_error_class = None
        if exception is not None:
            error_class = errors.classify_exception(exception)
            if error_class in errors.CRITICAL_CLASSES:
                return False
            self._local.last_error_class = error_class
            return True
        if response is None:
            return False
        status_class = errors.classify_status(response.status_code)
        if status_class in (errors.RATE_LIMITED, errors.SERVER_ERROR):
            self._local.last_error_class = status_class
            return True
        if status_class is None:
            try:
                decode = getattr(self._local, "decode", orjson.loads)
                response._aeries_json = decode(response.content)  # type: ignore[attr-defined]
            except (orjson.JSONDecodeError, requests.exceptions.RequestException):
                self._local.last_error_class = errors.MALFORMED_RESPONSE
                return True
        return False

    def _goes_first(self) -> bool:
        """Whether the calling thread's request takes a free request slot before waiting attendance reads.

        Attendance windows are most of a sync's requests; the others (calendars, students,
        enrollment...) are few, and a checkpoint cannot commit before the students and enrollment
        are read (see `RequestLimiter`).
        """
        return getattr(self._local, "endpoint", None) != "attendance"

    def _before_retry(self, retry_state: Any) -> None:
        """Count a failed attempt that is about to be retried (tenacity's before_sleep)."""
        self.stats.record_retry(getattr(self._local, "last_error_class", None) or "unknown")

    def thread_attempts(self) -> int:
        """HTTP attempts made so far by the calling thread (to count requests per batch)."""
        return int(getattr(self._local, "attempts", 0))

    # -- plumbing ------------------------------------------------------------------------------
    def _headers(self) -> Dict[str, str]:
        return {CERT_HEADER: self._certificate, "Accept": "application/json"}

    def _params(self, extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        params: Dict[str, Any] = {}
        if self.database_year is not None:
            params["DatabaseYear"] = self.database_year
        if extra:
            params.update(extra)
        return params

    def _describe(self, endpoint: str, school_code: Optional[int]) -> str:
        return f"{endpoint} (school {school_code})" if school_code is not None else endpoint

    def get_json(
        self,
        endpoint: str,
        path: str,
        params: Optional[Dict[str, Any]] = None,
        school_code: Optional[int] = None,
        not_found_is_empty: bool = False,
        decode: Callable[[bytes], Any] = orjson.loads,
    ) -> Any:
        """GET one Aeries route and return its parsed JSON body.

        Args:
            endpoint: A short endpoint name for logs and counters (`attendance`, `students`...).
            path: The route below `/api/v5/`.
            params: Query parameters besides `DatabaseYear`.
            school_code: The school the request is for, named in errors.
            not_found_is_empty: Treat 404 as an empty list (some districts answer 404 for "no rows").
            decode: Parses the body; raises `orjson.JSONDecodeError` for a body that is not JSON
                (retried as a malformed response).

        Raises:
            AeriesCriticalError: Authentication, TLS, DNS or connection-refused failures.
            AeriesRequestError: Failures left after every retry, and 4xx answers.
        """
        self._local.endpoint = endpoint
        self._local.decode = decode
        what = self._describe(endpoint, school_code)
        logger.debug("GET %s", what)
        try:
            response = self._http.session.get(
                self.base_url + path, params=self._params(params), headers=self._headers(), verify=self._verify
            )
        except requests.exceptions.RequestException as exc:
            raise self._error_from_exception(exc, what) from None
        body = self._json_or_raise(response, what, not_found_is_empty, decode)
        if self.on_read is not None:
            rows = len(body) if isinstance(body, (list, AttendanceResponse, KeptRows)) else 1
            self.on_read(EndpointRead(endpoint, school_code, dict(params or {}), rows))
        return body

    def _error_from_exception(self, exc: BaseException, what: str) -> errors.AeriesError:
        error_class = errors.classify_exception(exc)
        self.stats.record_error(error_class)
        if error_class in errors.CRITICAL_CLASSES:
            return errors.AeriesCriticalError(
                f"{_CRITICAL_TEXT[error_class]} while requesting {what} from {self._host()}",
                error_class,
            )
        return errors.AeriesRequestError(
            f"{error_class} while requesting {what}, after {self.retry.max_attempts} attempts",
            error_class,
        )

    def _json_or_raise(
        self, response: Response, what: str, not_found_is_empty: bool, decode: Callable[[bytes], Any]
    ) -> Any:
        status = response.status_code
        error_class = errors.classify_status(status)
        if error_class is None:
            parsed = getattr(response, "_aeries_json", None)
            if parsed is not None:
                return parsed
            try:
                return decode(response.content)
            except (orjson.JSONDecodeError, requests.exceptions.RequestException):
                self.stats.record_error(errors.MALFORMED_RESPONSE)
                raise errors.AeriesRequestError(
                    f"malformed JSON from {what}, after {self.retry.max_attempts} attempts",
                    errors.MALFORMED_RESPONSE,
                ) from None
        if error_class == errors.NOT_FOUND and not_found_is_empty:
            return []
        self.stats.record_error(error_class)
        message = _server_message(response, self._certificate)
        if error_class == errors.AUTH:
            raise errors.AeriesCriticalError(
                f"Aeries refused the certificate (HTTP {status}) for {what}: {message}".rstrip(": "),
                error_class,
            )
        raise errors.AeriesRequestError(f"HTTP {status} from {what}: {message}".rstrip(": "), error_class)

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _cached(self, key: Any, loader: Any) -> Any:
        # One lock per key: parallel school resources asking for the same calendar wait for the
        # first request instead of sending their own.
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._cache_lock:
                if key in self._cache:
                    return self._cache[key]
            value = loader()
            with self._cache_lock:
                self._cache[key] = value
            return value

    def clear_cache(self) -> None:
        """Forget cached calendars and absence codes (they are refreshed once per sync)."""
        with self._cache_lock:
            self._cache.clear()

    # -- routes --------------------------------------------------------------------------------
    def system_info(self) -> Dict[str, Any]:
        """Return `/systeminfo` (server version, years, clock), requested once for the life of this client."""
        return self._system_info()[0]

    def server_now(self) -> datetime:
        """Return the server's local wall-clock time: `systeminfo.CurrentDateTime` plus the time since it came.

        A sync asks for the clock right after checking the DatabaseYear, which already read it: the
        local monotonic clock carries it forward instead of a second request (a round trip before
        the first attendance request). The server wrote its clock before the response arrived, so
        the result is never later than the server's own, as the StudentDataChanges watermark needs.
        """
        body, received = self._system_info()
        return parse_server_datetime(str(body["CurrentDateTime"])) + timedelta(seconds=time.monotonic() - received)

    def _system_info(self) -> Tuple[Dict[str, Any], float]:
        def request() -> Tuple[Dict[str, Any], float]:
            body = self.get_json("systeminfo", settings.SYSTEMINFO_PATH)
            if not isinstance(body, dict):
                raise errors.AeriesRequestError("systeminfo did not return an object", errors.MALFORMED_RESPONSE)
            return body, time.monotonic()

        return self._cached("systeminfo", request)  # type: ignore[no-any-return]

    def schools(self) -> List[Dict[str, Any]]:
        """Return every school object of the district (including pseudo-schools)."""
        return _as_list(self._cached("schools", lambda: self.get_json("schools", settings.SCHOOLS_PATH)))

    def calendar(self, school_code: int) -> List[Dict[str, Any]]:
        """Return a school's calendar rows, decoded anew from the response kept for the life of this client."""
        path = settings.CALENDAR_PATH.format(school_code=school_code)
        kept: KeptRows = self._cached(
            ("calendar", school_code),
            lambda: self.get_json("calendar", path, school_code=school_code, decode=KeptRows),
        )
        return kept.rows()

    def absence_codes(self, school_code: int) -> List[Dict[str, Any]]:
        """Return a school's absence codes (cached for the life of this client)."""
        path = settings.ABSENCE_CODES_PATH.format(school_code=school_code)
        return _as_list(
            self._cached(
                ("absence_codes", school_code),
                lambda: self.get_json("absence_codes", path, school_code=school_code),
            )
        )

    def students(
        self, school_code: int, page_size: int = settings.DEFAULT_STUDENT_PAGE_SIZE,
        fields: Optional[Sequence[str]] = None,
    ) -> Iterator[List[Dict[str, Any]]]:
        """Yield a school's student records page by page (`StartingRecord`/`EndingRecord`).

        The paging state lives in `RecordRangePaginator`; the loop is ours rather than
        `RESTClient.paginate`, whose response hooks run inside the retrying `send`, so errors raised
        there would be retried and miscounted instead of classified once.

        Args:
            fields: When given, pages are `StudentPage`s whose records hold only these fields
                (`student_page.parse_student_page`), where their JSON types are documented.
        """
        parser = page_parser(fields) if fields else None
        decode: Callable[[bytes], Any] = parser or orjson.loads
        path = settings.STUDENTS_PATH.format(school_code=school_code)
        paginator = RecordRangePaginator(page_size)
        request = Request(method="GET", url=self.base_url + path, params={})
        paginator.init_request(request)
        while True:
            params = request.params
            if not isinstance(params, dict):  # the paginator keeps the query a dict
                raise TypeError(f"the students request's params are a {type(params).__name__}, not a dict")
            page = _as_list(self.get_json("students", path, dict(params), school_code=school_code, decode=decode))
            yield page
            paginator.update_state(None, page)  # type: ignore[arg-type]
            if not paginator.has_next_page:
                return
            paginator.update_request(request)

    def student(self, school_code: int, student_id: int) -> List[Dict[str, Any]]:
        """Return one student's records at one school ([] when the student has none there)."""
        path = settings.STUDENT_PATH.format(school_code=school_code, student_id=student_id)
        return _as_list(self.get_json("student", path, school_code=school_code, not_found_is_empty=True))

    def enrollment(self, school_code: int, year: int) -> List[Dict[str, Any]]:
        """Return every enrollment row of a school for an academic year (`yyyy`)."""
        path = settings.ENROLLMENT_PATH.format(school_code=school_code, year=year)
        return _as_list(self.get_json("enrollment", path, school_code=school_code, not_found_is_empty=True))

    def student_enrollment(self, school_code: int, student_id: int, year: int) -> List[Dict[str, Any]]:
        """Return one student's enrollment rows at one school for an academic year."""
        path = settings.STUDENT_ENROLLMENT_PATH.format(school_code=school_code, student_id=student_id, year=year)
        return _as_list(self.get_json("enrollment", path, school_code=school_code, not_found_is_empty=True))

    def attendance(self, school_code: int, start: date, end: date) -> List[Dict[str, Any]]:
        """Return the school-wide attendance for `start`..`end` (both inclusive)."""
        return self.attendance_response(school_code, start, end).records()

    def attendance_response(self, school_code: int, start: date, end: date) -> AttendanceResponse:
        """Return the school-wide attendance for `start`..`end` (both inclusive), in Arrow columns when it can be."""
        path = settings.ATTENDANCE_PATH.format(school_code=school_code)
        params = {"StartDate": aeries_date(start), "EndDate": aeries_date(end)}
        body = self.get_json("attendance", path, params, school_code=school_code, not_found_is_empty=True,
                             decode=parse_attendance)
        # A 404 read as "no rows" is an empty list, not a parsed response.
        return body if isinstance(body, AttendanceResponse) else AttendanceResponse(b"[]", None, _as_list(body))

    def attendance_history_summary(self, school_code: int, school_year: str) -> List[Dict[str, Any]]:
        """Return Aeries's own yearly attendance counts of the school's students (`school_year` is `yyyy-yyyy`).

        Each element is `{StudentID, HistorySummaries: [...]}`, with summaries for every school
        the student has that year.
        """
        path = settings.ATTENDANCE_HISTORY_SUMMARY_PATH.format(school_code=school_code, school_year=school_year)
        return _as_list(
            self.get_json("attendance_history", path, school_code=school_code, not_found_is_empty=True)
        )

    def data_changes(self, area: str, since: datetime) -> List[Dict[str, Any]]:
        """Return the students whose `area` data changed at or after `since` (server local time)."""
        path = settings.DATA_CHANGES_PATH.format(
            area=area, y=since.year, m=since.month, d=since.day, h=since.hour, minute=since.minute
        )
        return _as_list(
            self._cached(("changes", path), lambda: self.get_json("data_changes", path, not_found_is_empty=True))
        )


_CRITICAL_TEXT = {
    errors.TLS: "TLS certificate verification failed",
    errors.DNS: "the Aeries host name could not be resolved",
    errors.CONNECTION_REFUSED: "the Aeries server refused the connection",
}


def _as_list(body: Any) -> List[Dict[str, Any]]:
    if body is None:
        return []
    if isinstance(body, list):
        return body
    # Older servers answer single-object routes with a bare object.
    return [body]


def _server_message(response: Response, certificate: str) -> str:
    try:
        body = orjson.loads(response.content)
    except (orjson.JSONDecodeError, requests.exceptions.RequestException):
        return ""
    if isinstance(body, dict) and isinstance(body.get("Message"), str):
        # Aeries messages may name the record they refuse ("Invalid Student ID 10100042"):
        # long numbers are masked so no student id reaches an error or log line.
        return re.sub(r"\d{5,}", "<number>", body["Message"].replace(certificate, "***"))[:200]
    return ""
