"""Attendance status values derived from an absence code's Aeries TypeCode."""

from typing import Dict, FrozenSet, Optional

PRESENT = "present"

# Aeries TypeCode -> our status. TypeCode 7 is unused by Aeries and maps to nothing, so a code of
# that type is treated as unknown (rejected) rather than guessed at.
STATUS_BY_TYPE_CODE: Dict[int, str] = {
    1: "absent_unverified",
    2: "absent_excused",
    3: "absent_unexcused",
    4: PRESENT,  # verified not absent
    5: "tardy",
    6: PRESENT,
    8: "tardy_excused",
    9: "tardy_unexcused",
}
ABSENCE_TYPE_CODES: FrozenSet[int] = frozenset({1, 2, 3})
TARDY_TYPE_CODES: FrozenSet[int] = frozenset({5, 8, 9})


def status_for_type_code(type_code: int) -> Optional[str]:
    """Return the status for an Aeries absence-code TypeCode, or None if the type is unknown."""
    return STATUS_BY_TYPE_CODE.get(type_code)


def is_absence(type_code: int) -> bool:
    """Tell whether an absence-code TypeCode is an absence (unverified, excused or unexcused)."""
    return type_code in ABSENCE_TYPE_CODES


def is_tardy(type_code: int) -> bool:
    """Tell whether an absence-code TypeCode is a tardy (plain, verified excused or unexcused)."""
    return type_code in TARDY_TYPE_CODES
