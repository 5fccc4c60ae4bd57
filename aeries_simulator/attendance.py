"""Lazy, deterministic attendance: codes per student-day computed only for a requested window."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date

from .district import School, StudentRecord
from .rng import BLOCK_DAYS, day_draws, mix64

Class = tuple[str, int, str]  # (period, section number, attendance code)
DayRecord = tuple[str, tuple[Class, ...]]  # (all-day code, classes sorted by period)

# Code mixes; each entry is (cumulative share out of 100, code).
_FULL_DAY = ((30, "E"), (52, "I"), (77, "A"), (94, "U"), (97, "X"), (99, "N"), (100, "1"))
_TARDY = ((70, "T"), (90, "V"), (100, "L"))


def _pick(table: tuple[tuple[int, str], ...], h: int) -> str:
    roll = h % 100
    for cutoff, code in table:
        if roll < cutoff:
            return code
    return table[-1][1]


def _sections(record: StudentRecord) -> tuple[int, ...]:
    """Return the record's section per period 0-9, computed once (they sit on the hot path)."""
    sections = record.sections
    if sections is None:
        sections = tuple(p * 1000 + 100 + mix64(record.attendance_key ^ (p + 1) * 0x9E37) % 300 for p in range(10))
        record.sections = sections
    return sections


def section_number(record: StudentRecord, period: str) -> int:
    """Return the stable section a student attends in a period (e.g. 1204 for period 1)."""
    return _sections(record)[int(period)]


def classes_for(record: StudentRecord, codes: Mapping[str, str]) -> tuple[Class, ...]:
    """Return Classes tuples for period codes, sorted by period.

    Args:
        record: The student record (for section numbers).
        codes: Period to attendance code.

    Returns:
        Class tuples sorted by period.
    """
    sections = _sections(record)
    return tuple((p, sections[ord(p) - 48], codes[p]) for p in sorted(codes))


def generated_day(school: School, record: StudentRecord, ordinal: int, draw: int) -> DayRecord:
    """Return the generated record of a student-day whose draw fell under the student's rate.

    Args:
        school: The school (daily or period).
        record: The student's record at that school.
        ordinal: Day ordinal (date.toordinal()).
        draw: The day's 16-bit draw, already known to be below ``record.rate``.

    Returns:
        The day's (all-day code, classes).
    """
    share = draw / record.rate  # uniform in [0, 1) given the draw is under the rate
    h = mix64(record.attendance_key ^ (ordinal * 0x2545F4914F6CDD1D))
    periods = record.periods
    if not periods:  # daily school: only the all-day code
        if share < 0.65:
            return _pick(_FULL_DAY, h), ()
        return _pick(_TARDY, h), ()
    if share < 0.5:  # full-day absence: every period shares the code, and so does the day
        code = _pick(_FULL_DAY, h)
        sections = _sections(record)
        return code, tuple((p, sections[ord(p) - 48], code) for p in periods)  # periods are already in order
    if share < 0.8:  # tardy to one period, usually the first
        code = _pick(_TARDY, h)
        period = periods[0] if (h >> 8) % 10 < 6 else periods[(h >> 16) % len(periods)]
        return "", classes_for(record, {period: code})
    if share < 0.93:  # cut one or two periods
        code = "U" if (h >> 8) & 1 else "A"
        first = (h >> 16) % len(periods)
        chosen = {periods[first]: code}
        if (h >> 24) & 1 and len(periods) > 1:
            chosen[periods[(first + 1 + (h >> 32) % (len(periods) - 1)) % len(periods)]] = code
        return "", classes_for(record, chosen)
    # left early: the last two periods excused
    return "", classes_for(record, dict.fromkeys(periods[-2:], "E"))


def generate_student(school: School, record: StudentRecord, ordinals: tuple[int, ...],
                     ) -> Iterator[tuple[int, DayRecord]]:
    """Yield (ordinal, record) for the student's generated codes on the given school days.

    Args:
        school: The school.
        record: The student's record there.
        ordinals: Ordinals of instructional days the student is enrolled on, ascending.

    Yields:
        (day ordinal, day record) for days with a code.
    """
    if not ordinals:
        return
    first_block = ordinals[0] // BLOCK_DAYS
    draws = day_draws(record.attendance_key, first_block, ordinals[-1] // BLOCK_DAYS)
    base = first_block * BLOCK_DAYS
    rate = record.rate
    for ordinal in ordinals:
        draw = draws[ordinal - base]
        if draw < rate:
            yield ordinal, generated_day(school, record, ordinal, draw)


def student_days(school: School, record: StudentRecord, window: tuple[int, ...],
                 overrides: Mapping[int, DayRecord | None] | None,
                 cleared: frozenset[int] | set[int]) -> list[tuple[int, DayRecord]]:
    """Return a student's effective days in a window: generated, then corrections applied.

    Args:
        school: The school.
        record: The student's record there.
        window: Ordinals of instructional days in the requested window (and not after today).
        overrides: Corrections for this student by ordinal; None values mean "no codes".
        cleared: Ordinals on which the whole school was cleared.

    Returns:
        (ordinal, day record) sorted by ordinal; days without codes are omitted.
    """
    lo = record.enter_date.toordinal()
    hi = record.leave_date.toordinal() if record.leave_date is not None else None
    if window and (window[0] < lo or (hi is not None and window[-1] > hi)):
        window = tuple(o for o in window if o >= lo and (hi is None or o <= hi))
    days = dict(generate_student(school, record, window))
    if cleared:
        for ordinal in cleared:
            days.pop(ordinal, None)
    if overrides:
        allowed = set(window)
        for ordinal, day in overrides.items():
            if ordinal not in allowed:
                continue
            if day is None or (not day[0] and not day[1]):
                days.pop(ordinal, None)
            else:
                days[ordinal] = day
    return sorted(days.items())


def window_ordinals(calendar_ordinals: tuple[int, ...], start: date, end: date, today: date) -> tuple[int, ...]:
    """Clip instructional-day ordinals to [start, min(end, today)]."""
    from bisect import bisect_left, bisect_right

    last = min(end, today).toordinal()
    lo = bisect_left(calendar_ordinals, start.toordinal())
    hi = bisect_right(calendar_ordinals, last)
    return calendar_ordinals[lo:hi]
