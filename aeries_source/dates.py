"""Parsing Aeries' naive JSON datetimes into dates."""

from datetime import date, datetime
from typing import Any, Optional

# Older Aeries versions send this instead of null for "no date".
_NULL_DATE_PREFIX = "0001-01-01"


def parse_aeries_date(value: Any) -> Optional[date]:
    """Turn an Aeries datetime string (`"2024-08-15T00:00:00"`) into a `date`.

    Aeries datetimes are local and carry no offset, so the date part is taken as is rather than
    shifting it through UTC.

    Args:
        value: The JSON value: a string, None, or already a date.

    Returns:
        The date, or None for null, blank text and Aeries' `0001-01-01` placeholder.

    Raises:
        ValueError: When the value is neither null nor a parseable date string.
    """
    if value is None or (isinstance(value, str) and not value.strip()):  # blank text is no date
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date string, got {type(value).__name__}")
    if value.startswith(_NULL_DATE_PREFIX):
        return None
    return date.fromisoformat(value[:10])


def parse_server_datetime(value: str) -> datetime:
    """Parse `systeminfo.CurrentDateTime` (7 fraction digits and an offset) into a naive local datetime.

    The offset is dropped on purpose: StudentDataChanges expects server-local wall-clock parts.
    """
    text = value.strip()
    main, _, rest = text.partition(".")
    return datetime.fromisoformat(main[:19])
