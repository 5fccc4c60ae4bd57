"""Logging for the sync command: human-readable or JSON lines, with secrets and student data kept out."""

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Iterable, List, Optional

# Path segments that carry student ids in Aeries routes.
_STUDENT_PATH = re.compile(r"(?i)(students|attendance|enrollment)/\d+")
_CERT_HEADER = re.compile(r"(?i)(aeries-cert['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+")


class RedactingFilter(logging.Filter):
    """Removes known secrets and student-id URL segments from every record before it is written.

    The source never logs them on purpose; this is the net under third-party libraries
    (dlt, requests) that might echo a URL or a header.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: List[str] = [s for s in secrets if s]

    def add_secret(self, secret: Optional[str]) -> None:
        """Register one more value that must never appear in a log line."""
        if secret and secret not in self.secrets:
            self.secrets.append(secret)

    def redact(self, text: str) -> str:
        """Return `text` with secrets and student-id path segments masked."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = _STUDENT_PATH.sub(lambda m: f"{m.group(1)}/<id>", text)
        return _CERT_HEADER.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = self.redact(record.getMessage())
        record.msg, record.args = message, None
        if record.exc_info:
            # Tracebacks may hold URLs and payloads: keep the type only.
            exc_type = record.exc_info[0]
            record.msg = f"{message} [{exc_type.__name__ if exc_type else 'error'}]"
            record.exc_info = None
            record.exc_text = None
        return True


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line, for log aggregators."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(entry, default=str)


REDACTOR = RedactingFilter()


def configure_logging(debug: bool = False, json_lines: bool = False, stream=None) -> RedactingFilter:
    """Set up the root logger for the command and return the redacting filter.

    Args:
        debug: Log at DEBUG (urllib3 stays at WARNING: its debug lines print request URLs).
        json_lines: Write JSON lines instead of human-readable lines.
        stream: Where to write (default stderr).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(REDACTOR)
    if json_lines:
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ("urllib3", "requests", "filelock", "fsspec", "botocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("dlt").setLevel(logging.DEBUG if debug else logging.WARNING)
    return REDACTOR
