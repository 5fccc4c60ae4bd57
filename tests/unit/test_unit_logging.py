"""Unit tests of `aeries_sync.logging_setup.RedactingFilter` on a private logger (the root logger is untouched)."""

import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from aeries_sync.logging_setup import RedactingFilter

SECRET = "Zq7Kx2Wm9Rt4Yp1Hs8Dn3Bv6Lc0Fg5Ja"  # synthetic certificate
OTHER_SECRET = "s3cr3t-pass-9911"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, RedactingFilter]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    redactor = RedactingFilter([SECRET])
    handler.addFilter(redactor)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.batch.redaction")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream, redactor
    logger.handlers = []


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(f"cert is {SECRET}", "cert is ***", id="registered-secret"),
        pytest.param(f"{SECRET}{SECRET}", "******", id="secret-twice"),
        pytest.param("GET /api/v5/schools/901/students/12345678?DatabaseYear=2024",
                     "GET /api/v5/schools/901/students/<id>?DatabaseYear=2024", id="students-path"),
        pytest.param("GET schools/901/attendance/12345678", "GET schools/901/attendance/<id>", id="attendance-path"),
        pytest.param("GET Students/12345678 and students/87654321", "GET Students/<id> and students/<id>",
                     id="case-insensitive-and-repeated"),
        pytest.param("GET schools/901/enrollment/12345678/year/2024", "GET schools/901/enrollment/<id>/year/2024",
                     id="enrollment-path"),
        pytest.param("GET schools/901/students?StartingRecord=1", "GET schools/901/students?StartingRecord=1",
                     id="school-list-untouched"),
        pytest.param("headers {'AERIES-CERT': 'UnregisteredCert123'}", "headers {'AERIES-CERT': '***'}",
                     id="cert-header-dict"),
        pytest.param("aeries-cert: UnregisteredCert123", "aeries-cert: ***", id="cert-header-line"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert RedactingFilter([SECRET]).redact(text) == expected


def test_add_secret() -> None:
    redactor = RedactingFilter()
    redactor.add_secret(OTHER_SECRET)
    redactor.add_secret(OTHER_SECRET)
    redactor.add_secret("")
    redactor.add_secret(None)
    assert redactor.secrets == [OTHER_SECRET]
    assert redactor.redact(f"password={OTHER_SECRET};") == "password=***;"


def test_empty_secrets_are_ignored() -> None:
    redactor = RedactingFilter(["", SECRET])
    assert redactor.secrets == [SECRET]
    assert redactor.redact("plain text") == "plain text"


def test_filter_masks_message_and_args(logged: Any) -> None:
    logger, stream, _ = logged
    logger.info("calling %s with cert %s", "schools/901/students/12345678", SECRET)
    out = stream.getvalue()
    assert out == "INFO calling schools/901/students/<id> with cert ***\n"


def test_filter_drops_exc_info(logged: Any) -> None:
    logger, stream, _ = logged
    try:
        raise ValueError(f"boom at students/12345678 with {SECRET}")
    except ValueError:
        logger.exception("request failed for students/87654321")
    out = stream.getvalue()
    assert out == "ERROR request failed for students/<id> [ValueError]\n"
    assert "Traceback" not in out
    assert SECRET not in out and "12345678" not in out


def test_filter_record_fields() -> None:
    redactor = RedactingFilter([SECRET])
    try:
        raise KeyError("x")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "cert %s", (SECRET,), sys.exc_info())
    record.exc_text = "cached traceback with " + SECRET
    assert redactor.filter(record) is True
    assert record.exc_info is None
    assert record.exc_text is None
    assert record.args is None
    assert record.getMessage() == "cert *** [KeyError]"
