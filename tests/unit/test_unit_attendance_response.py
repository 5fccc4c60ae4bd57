"""Unit tests of parsing an attendance response (`aeries_source.attendance_response`)."""

import orjson
import pytest

from aeries_source.attendance_response import parse_attendance

DAY = {"CalendarDate": "2024-09-03T00:00:00", "AllDayAttendanceCode": "A",
       "Classes": [{"SectionNumber": 1204, "Period": "1", "AttendanceCode": "A"}]}


def test_the_documented_shape_is_parsed_into_columns_and_kept_as_sent() -> None:
    payload = [{"StudentID": 10100042, "AttendanceDays": [DAY], "Extra": {"ignored": True}},
               {"StudentID": 10100057, "AttendanceDays": []}]
    body = orjson.dumps(payload)
    response = parse_attendance(body)
    assert response.students is not None and len(response) == 2
    assert response.students.field("StudentID").to_pylist() == [10100042, 10100057]
    assert response.records() == payload  # the row-by-row path still sees the body as sent


def test_a_body_with_newlines_is_parsed_into_columns() -> None:
    body = orjson.dumps([{"StudentID": 1, "AttendanceDays": [DAY]}], option=orjson.OPT_INDENT_2)
    assert b"\n" in body and parse_attendance(body).students is not None


@pytest.mark.parametrize("body, records", [
    (b"null", []),
    (b'{"StudentID": 1, "AttendanceDays": []}', [{"StudentID": 1, "AttendanceDays": []}]),
    (b'[{"StudentID": "1", "AttendanceDays": []}]', [{"StudentID": "1", "AttendanceDays": []}]),
    (b"[1, 2]", [1, 2]),
])
def test_other_json_is_left_to_the_row_by_row_path(body: bytes, records: list) -> None:
    response = parse_attendance(body)
    assert response.students is None
    assert response.records() == records and len(response) == len(records)


@pytest.mark.parametrize("body", [b"", b"<html>busy</html>", b'[{"StudentID": 1,', b"[] []"])
def test_a_body_that_is_not_json_raises_the_error_the_client_retries(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        parse_attendance(body)


@pytest.mark.parametrize("body", [
    pytest.param(b'[{"StudentID":1,"AttendanceDays":[{"CalendarDate":"2024-09-03T00:00:00",'
                 b'"AllDayAttendanceCode":"A\xe9","Classes":[]}]}]', id="latin1-in-a-parsed-field"),
    pytest.param(b'[{"StudentID":1,"AttendanceDays":[],"Note":"Jos\xe9"}]', id="latin1-in-a-skipped-field"),
    pytest.param(b'[{"StudentID":1,"AttendanceDays":[],"Points":NaN}]', id="nan"),
    pytest.param(b'[{"StudentID":1,"AttendanceDays":[],"Points":-Infinity}]', id="infinity"),
])
def test_a_body_orjson_refuses_is_refused_though_arrow_would_read_it(body: bytes) -> None:
    """Arrow's reader takes these; orjson refuses them, and the client retries them as malformed."""
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    with pytest.raises(orjson.JSONDecodeError):
        parse_attendance(body)


def test_nan_inside_text_is_read_as_sent() -> None:
    body = b'[{"StudentID":1,"AttendanceDays":[],"Note":"NaN and Infinity"}]'
    assert parse_attendance(body).records() == orjson.loads(body)
