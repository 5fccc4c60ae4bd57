"""Unit tests of `aeries_source.client.AeriesClient` against `responses`-mocked HTTP (no real network)."""

import json
import socket
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import urllib3

from aeries_source import errors
from aeries_source.client import (
    CERT_HEADER,
    AeriesClient,
    RetryPolicy,
    normalize_base_url,
)

CERT = "Zq7Kx2Wm9Rt4Yp1Hs8Dn3Bv6Lc0Fg5Ja"  # synthetic 32-char certificate
HOST = "https://district.aeries.test/aeries"
API = HOST + "/api/v5/"
FAST = RetryPolicy(max_attempts=3, backoff_factor=0, jitter=0, max_delay=0)
JSON = {"Content-Type": "application/json"}


def make_client(database_year: int | None = 2024, base_url: str = HOST) -> AeriesClient:
    return AeriesClient(base_url, CERT, database_year=database_year, retry=FAST)


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(call.request.url)).query)


def assert_no_cert(exc: BaseException) -> None:
    assert CERT not in str(exc)
    assert CERT not in repr(exc)
    assert all(CERT not in str(arg) for arg in exc.args)


@pytest.fixture
def mock() -> Any:
    # Some failure tests register more answers than a non-retried request consumes; call counts are asserted.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# -- base URL ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "base_url, expected",
    [
        pytest.param("https://district.aeries.test/aeries", API, id="no-suffix"),
        pytest.param("https://district.aeries.test/aeries/", API, id="trailing-slash"),
        pytest.param("https://district.aeries.test/aeries/api/v5", API, id="with-api-v5"),
        pytest.param("https://district.aeries.test/aeries/api/v5/", API, id="with-api-v5-slash"),
        pytest.param("  https://district.aeries.test/aeries/API/V5/  ", API, id="upper-case-suffix-and-spaces"),
        pytest.param("http://10.0.0.5/admin", "http://10.0.0.5/admin/api/v5/", id="plain-http"),
        pytest.param("https://x.aeries.test", "https://x.aeries.test/api/v5/", id="host-only"),
    ],
)
def test_normalize_base_url(base_url: str, expected: str) -> None:
    assert normalize_base_url(base_url) == expected


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("district.aeries.test/aeries", id="no-scheme"),
        pytest.param("ftp://district.aeries.test/aeries", id="ftp-scheme"),
        pytest.param("https://", id="no-host"),
        pytest.param("", id="empty"),
        pytest.param("//district.aeries.test/aeries", id="scheme-relative"),
    ],
)
def test_normalize_base_url_rejects(base_url: str) -> None:
    with pytest.raises(errors.AeriesConfigError) as info:
        normalize_base_url(base_url)
    assert info.value.error_class == "config"


@pytest.mark.parametrize("certificate", [pytest.param("", id="empty"), pytest.param(None, id="none")])
def test_empty_certificate_is_a_config_error(certificate: Any) -> None:
    with pytest.raises(errors.AeriesConfigError):
        AeriesClient(HOST, certificate, retry=FAST)


# -- headers and DatabaseYear --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "database_year, expected",
    [pytest.param(2024, ["2024"], id="year-set"), pytest.param(None, None, id="year-omitted")],
)
def test_cert_header_and_database_year(mock: Any, database_year: int | None, expected: list[str] | None) -> None:
    mock.get(API + "schools", json=[{"SchoolCode": 901}])
    client = make_client(database_year)
    assert client.schools() == [{"SchoolCode": 901}]
    (call,) = mock.calls
    assert call.request.headers[CERT_HEADER] == CERT
    assert CERT_HEADER == "AERIES-CERT"
    assert "application/json" in call.request.headers["Accept"]
    assert query(call).get("DatabaseYear") == expected
    assert CERT not in call.request.url


def test_schools_single_object_is_wrapped(mock: Any) -> None:
    mock.get(API + "schools", json={"SchoolCode": 901, "Name": "Test School"})
    assert make_client().schools() == [{"SchoolCode": 901, "Name": "Test School"}]


def test_calendar_is_cached(mock: Any) -> None:
    mock.get(API + "schools/901/calendar", json=[{"CalendarDate": "2024-09-03T00:00:00"}])
    client = make_client()
    assert client.calendar(901) == client.calendar(901) == [{"CalendarDate": "2024-09-03T00:00:00"}]
    assert len(mock.calls) == 1


def test_calendar_is_kept_as_its_body_and_decoded_per_call(mock: Any) -> None:
    rows = [{"CalendarDate": "2024-09-03T00:00:00", "TrackHolidays": []},
            {"CalendarDate": "2024-09-04T00:00:00", "TrackHolidays": []}]
    mock.get(API + "schools/901/calendar", json=rows)
    client = make_client()
    reads: list[Any] = []
    client.on_read = reads.append
    first = client.calendar(901)
    first[0]["CalendarDate"] = "changed by a caller"
    first.append({})
    assert client.calendar(901) == rows  # what one caller changes, the next does not see
    assert [(r.endpoint, r.school_code, r.rows) for r in reads] == [("calendar", 901, 2)]
    kept = client._cache[("calendar", 901)]
    assert isinstance(kept.body, bytes) and len(kept) == 2


def test_calendar_malformed_body_is_retried_and_not_kept(mock: Any) -> None:
    mock.get(API + "schools/901/calendar", body="[{not json", headers=JSON)
    mock.get(API + "schools/901/calendar", json=[{"CalendarDate": "2024-09-03T00:00:00"}])
    client = make_client()
    assert client.calendar(901) == [{"CalendarDate": "2024-09-03T00:00:00"}]
    assert len(mock.calls) == 2
    assert client.stats.retries == 1 and client.stats.errors == {errors.MALFORMED_RESPONSE: 1}


def test_server_clock_is_read_once_and_carried_forward(mock: Any) -> None:
    info = {"AvailableDatabaseYears": ["2024-2025"], "CurrentDateTime": "2025-03-12T10:15:30"}
    mock.get(API + "systeminfo", json=info)
    client = make_client()
    assert client.system_info()["AvailableDatabaseYears"] == ["2024-2025"]
    first, later = client.server_now(), client.server_now()
    assert datetime(2025, 3, 12, 10, 15, 30) <= first <= later < datetime(2025, 3, 12, 10, 16)
    assert len(mock.calls) == 1


def test_attendance_sends_yyyymmdd_window(mock: Any) -> None:
    body = [{"StudentID": 90000001, "AttendanceDays": []}]
    mock.get(API + "schools/901/attendance/", json=body)
    assert make_client().attendance(901, date(2024, 9, 3), date(2025, 1, 31)) == body
    (call,) = mock.calls
    q = query(call)
    assert q["StartDate"] == ["20240903"]
    assert q["EndDate"] == ["20250131"]
    assert q["DatabaseYear"] == ["2024"]


# -- retries and error classes ------------------------------------------------------------------------------
def test_429_then_200_is_retried(mock: Any) -> None:
    mock.get(API + "schools", status=429, json={"Message": "slow down"})
    mock.get(API + "schools", json=[{"SchoolCode": 901}])
    client = make_client()
    assert client.schools() == [{"SchoolCode": 901}]
    assert len(mock.calls) == 2
    snap = client.stats.snapshot()
    assert snap["requests"] == 2
    assert snap["retries"] == 1
    assert snap["errors"] == {errors.RATE_LIMITED: 1}
    assert snap["by_endpoint"] == {"schools": 2}


@pytest.mark.parametrize(
    "status", [pytest.param(500, id="500"), pytest.param(502, id="502"), pytest.param(503, id="503")]
)
def test_server_error_every_time_gives_request_error(mock: Any, status: int) -> None:
    for _ in range(3):
        mock.get(API + "schools", status=status, json={"Message": "unavailable"})
    client = make_client()
    with pytest.raises(errors.AeriesRequestError) as info:
        client.schools()
    assert not isinstance(info.value, errors.AeriesCriticalError)
    assert info.value.error_class == errors.SERVER_ERROR
    assert len(mock.calls) == 3
    assert client.stats.requests == 3
    assert client.stats.errors[errors.SERVER_ERROR] >= 3
    assert_no_cert(info.value)


def test_500_then_malformed_then_200_succeeds(mock: Any) -> None:
    mock.get(API + "schools", status=500)
    mock.get(API + "schools", body="<html>not json", headers=JSON)
    mock.get(API + "schools", json=[{"SchoolCode": 901}])
    client = make_client()
    assert client.schools() == [{"SchoolCode": 901}]
    assert len(mock.calls) == 3
    assert client.stats.retries == 2
    assert client.stats.errors == {errors.SERVER_ERROR: 1, errors.MALFORMED_RESPONSE: 1}


@pytest.mark.parametrize(
    "body",
    [pytest.param("<html>oops</html>", id="html"), pytest.param('[{"StudentID": 1', id="truncated-json"),
     pytest.param("", id="empty-body")],
)
def test_malformed_json_every_time(mock: Any, body: str) -> None:
    for _ in range(3):
        mock.get(API + "schools/901/attendance/", body=body, headers=JSON)
    client = make_client()
    with pytest.raises(errors.AeriesRequestError) as info:
        client.attendance(901, date(2024, 9, 3), date(2024, 9, 30))
    assert info.value.error_class == errors.MALFORMED_RESPONSE
    assert len(mock.calls) == 3
    assert_no_cert(info.value)


@pytest.mark.parametrize("status", [pytest.param(401, id="401"), pytest.param(403, id="403")])
def test_auth_failure_is_critical_and_not_retried(mock: Any, status: int) -> None:
    mock.get(API + "schools", status=status, json={"Message": "The certificate is not valid"})
    client = make_client()
    with pytest.raises(errors.AeriesCriticalError) as info:
        client.schools()
    assert info.value.error_class == errors.AUTH
    assert "The certificate is not valid" in str(info.value)
    assert str(status) in str(info.value)
    assert len(mock.calls) == 1
    assert client.stats.retries == 0
    assert_no_cert(info.value)


def test_echoed_certificate_is_not_in_the_error(mock: Any) -> None:
    mock.get(API + "schools", status=401, json={"Message": f"Certificate {CERT} is not valid"})
    with pytest.raises(errors.AeriesCriticalError) as info:
        make_client().schools()
    assert_no_cert(info.value)


def test_400_is_a_request_error_not_retried(mock: Any) -> None:
    mock.get(API + "schools", status=400, json={"Message": "Invalid School Code"})
    with pytest.raises(errors.AeriesRequestError) as info:
        make_client().schools()
    assert info.value.error_class == errors.CLIENT_ERROR
    assert "Invalid School Code" in str(info.value)
    assert len(mock.calls) == 1


def test_404_on_attendance_is_empty(mock: Any) -> None:
    mock.get(API + "schools/901/attendance/", status=404, json={"Message": "Not found"})
    client = make_client()
    assert client.attendance(901, date(2024, 9, 3), date(2024, 9, 30)) == []
    assert len(mock.calls) == 1


def test_404_on_schools_is_an_error(mock: Any) -> None:
    mock.get(API + "schools", status=404, json={"Message": "Not found"})
    with pytest.raises(errors.AeriesRequestError) as info:
        make_client().schools()
    assert info.value.error_class == errors.NOT_FOUND


def _wrapped(reason: BaseException) -> requests.exceptions.ConnectionError:
    """What requests raises: its ConnectionError around urllib3's MaxRetryError around the cause."""
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/api/v5/schools", reason))  # type: ignore[arg-type]


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    "exc, error_type, error_class, calls",
    [
        pytest.param(requests.exceptions.SSLError("certificate verify failed"), errors.AeriesCriticalError,
                     errors.TLS, 1, id="tls"),
        pytest.param(_wrapped(urllib3.exceptions.NameResolutionError(
            "district.aeries.test", None, socket.gaierror(-2, "Name or service not known"))),  # type: ignore[arg-type]
            errors.AeriesCriticalError, errors.DNS, 1, id="dns"),
        pytest.param(requests.exceptions.ReadTimeout("read timed out"), errors.AeriesRequestError,
                     errors.TIMEOUT, 3, id="timeout-retried"),
        pytest.param(requests.exceptions.ConnectionError("Connection aborted: reset by peer"),
                     errors.AeriesRequestError, errors.CONNECTION_RESET, 3, id="reset-retried"),
    ],
)
def test_transport_failures(
    mock: Any, exc: Exception, error_type: type[errors.AeriesError], error_class: str, calls: int
) -> None:
    for _ in range(3):
        mock.get(API + "schools", body=exc)
    client = make_client()
    with pytest.raises(error_type) as info:
        client.schools()
    assert info.value.error_class == error_class
    assert len(mock.calls) == calls
    assert_no_cert(info.value)
    if error_type is errors.AeriesRequestError:
        assert not isinstance(info.value, errors.AeriesCriticalError)


# -- students paging ---------------------------------------------------------------------------------------
def test_students_pages(mock: Any) -> None:
    records = [{"StudentID": 90000000 + i, "SchoolCode": 901} for i in range(5)]
    url = API + "schools/901/students"

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        q = parse_qs(urlsplit(str(request.url)).query)
        first, last = int(q["StartingRecord"][0]), int(q["EndingRecord"][0])
        return 200, JSON, json.dumps(records[first - 1:last])

    mock.add_callback(responses.GET, url, callback=callback)
    client = make_client()
    pages = list(client.students(901, page_size=2))
    assert pages == [records[0:2], records[2:4], records[4:5]]
    ranges = [(query(c)["StartingRecord"], query(c)["EndingRecord"]) for c in mock.calls]
    assert ranges == [(["1"], ["2"]), (["3"], ["4"]), (["5"], ["6"])]
    for call in mock.calls:
        assert call.request.headers[CERT_HEADER] == CERT
        assert query(call)["DatabaseYear"] == ["2024"]
    assert client.stats.by_endpoint["students"] == 3


def test_students_default_page_is_1_to_1000(mock: Any) -> None:
    mock.get(API + "schools/901/students", json=[])
    assert list(make_client().students(901)) == [[]]
    assert query(mock.calls[0])["StartingRecord"] == ["1"]
    assert query(mock.calls[0])["EndingRecord"] == ["1000"]


def test_students_retries_a_failed_page(mock: Any) -> None:
    url = API + "schools/901/students"
    mock.get(url, json=[{"StudentID": 1}, {"StudentID": 2}])
    mock.get(url, status=503)
    mock.get(url, json=[{"StudentID": 3}])
    pages = list(make_client().students(901, page_size=2))
    assert pages == [[{"StudentID": 1}, {"StudentID": 2}], [{"StudentID": 3}]]
    assert len(mock.calls) == 3


@pytest.mark.parametrize(
    "status, error_type, error_class, calls",
    [
        pytest.param(401, errors.AeriesCriticalError, errors.AUTH, 1, id="auth"),
        pytest.param(403, errors.AeriesCriticalError, errors.AUTH, 1, id="forbidden"),
        pytest.param(400, errors.AeriesRequestError, errors.CLIENT_ERROR, 1, id="client-error"),
        pytest.param(503, errors.AeriesRequestError, errors.SERVER_ERROR, 3, id="server-error"),
    ],
)
def test_students_errors(
    mock: Any, status: int, error_type: type[errors.AeriesError], error_class: str, calls: int
) -> None:
    for _ in range(3):
        mock.get(API + "schools/901/students", status=status, json={"Message": "no"})
    with pytest.raises(error_type) as info:
        list(make_client().students(901, page_size=2))
    assert info.value.error_class == error_class
    assert len(mock.calls) == calls
    assert_no_cert(info.value)


def test_students_server_error_stats(mock: Any) -> None:
    for _ in range(3):
        mock.get(API + "schools/901/students", status=503)
    client = make_client()
    with pytest.raises(errors.AeriesRequestError):
        list(client.students(901, page_size=2))
    assert client.stats.requests == 3
    assert set(client.stats.errors) == {errors.SERVER_ERROR}


def test_exhausted_retries_stats(mock: Any) -> None:
    """RequestStats contract: record_retry counts attempts that WILL be retried, record_error the final one."""
    for _ in range(3):
        mock.get(API + "schools", status=503)
    client = make_client()
    with pytest.raises(errors.AeriesRequestError):
        client.schools()
    assert client.stats.requests == 3
    assert client.stats.retries == 2
    assert client.stats.errors == {errors.SERVER_ERROR: 3}


# -- secrets -----------------------------------------------------------------------------------------------
def test_repr_hides_certificate() -> None:
    client = make_client()
    text = repr(client)
    assert CERT not in text
    assert "district.aeries.test" in text
    assert CERT not in str(client)


# -- real sockets (127.0.0.1 only) ---------------------------------------------------------------------------
def _closed_local_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_is_critical() -> None:
    port = _closed_local_port()
    client = AeriesClient(f"http://127.0.0.1:{port}/aeries", CERT, database_year=2024, retry=FAST)
    with pytest.raises(errors.AeriesCriticalError) as info:
        client.schools()
    assert info.value.error_class == errors.CONNECTION_REFUSED
    assert client.stats.requests == 1  # not retried
    assert f"127.0.0.1:{port}" in str(info.value)
    assert_no_cert(info.value)


# -- classify_exception / classify_status -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "exc, expected",
    [
        pytest.param(requests.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED"), errors.TLS, id="ssl"),
        pytest.param(_wrapped(urllib3.exceptions.NameResolutionError(
            "nohost.invalid", None, socket.gaierror(-2, "Name or service not known"))), errors.DNS,  # type: ignore[arg-type]
            id="name-resolution-error"),
        pytest.param(_wrapped(urllib3.exceptions.NameResolutionError(
            "nohost.invalid", None, socket.gaierror(8, "nodename nor servname provided"))), errors.DNS,  # type: ignore[arg-type]
            id="macos-dns"),
        pytest.param(_wrapped(_caused(urllib3.exceptions.NewConnectionError(None, "Failed to establish a connection"),
                                      ConnectionRefusedError(111, "Connection refused"))),  # type: ignore[arg-type]
                     errors.CONNECTION_REFUSED, id="refused"),
        # the words alone do not decide: classification goes by the wrapped exception types
        pytest.param(requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
                     errors.CONNECTION_RESET, id="refused-words-only"),
        pytest.param(requests.exceptions.ConnectTimeout("connect timed out"), errors.TIMEOUT, id="connect-timeout"),
        pytest.param(requests.exceptions.ReadTimeout("read timed out"), errors.TIMEOUT, id="read-timeout"),
        pytest.param(requests.exceptions.ChunkedEncodingError("broken"), errors.CONNECTION_RESET, id="chunked"),
        pytest.param(requests.exceptions.ConnectionError("reset by peer"), errors.CONNECTION_RESET, id="reset"),
        pytest.param(ValueError("bad json"), errors.MALFORMED_RESPONSE, id="value-error"),
    ],
)
def test_classify_exception(exc: BaseException, expected: str) -> None:
    assert errors.classify_exception(exc) == expected


@pytest.mark.parametrize(
    "status, expected",
    [
        pytest.param(200, None, id="200"), pytest.param(304, None, id="304"),
        pytest.param(400, errors.CLIENT_ERROR, id="400"), pytest.param(401, errors.AUTH, id="401"),
        pytest.param(403, errors.AUTH, id="403"), pytest.param(404, errors.NOT_FOUND, id="404"),
        pytest.param(429, errors.RATE_LIMITED, id="429"), pytest.param(500, errors.SERVER_ERROR, id="500"),
        pytest.param(501, errors.SERVER_ERROR, id="501"), pytest.param(503, errors.SERVER_ERROR, id="503"),
    ],
)
def test_classify_status(status: int, expected: str | None) -> None:
    assert errors.classify_status(status) == expected
