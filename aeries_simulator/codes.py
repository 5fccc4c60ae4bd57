"""The absence-code table every synthetic school uses, with the real Aeries TypeCode meanings."""

from __future__ import annotations

from dataclasses import dataclass

TYPE_DESCRIPTIONS: dict[int, str] = {
    1: "Unverified Absence",
    2: "Excused Absence",
    3: "Unexcused Absence",
    4: "Verified Not Absent",
    5: "Tardy",
    6: "Present",
    8: "Verified Excused Tardy",
    9: "Verified Unexcused Tardy",
}


@dataclass(frozen=True)
class AbsenceCode:
    """One row of a school's absence-code table."""

    code: str
    title: str
    abbreviation: str
    type_code: int
    counts_for_ada: bool = False
    is_suspension: bool = False
    is_partial_day_truant: bool = False
    independent_study_code: str = ""
    color_code: str = ""


ABSENCE_CODES: tuple[AbsenceCode, ...] = (
    AbsenceCode("A", "UNVERIFIED", "UNV", 1),
    AbsenceCode("U", "UNEXCUSED", "UNX", 3),
    AbsenceCode("E", "ILLNESS", "ILL", 2),
    AbsenceCode("I", "EXCUSED", "EXC", 2),
    AbsenceCode("T", "TARDY", "TAR", 5, counts_for_ada=True),
    AbsenceCode("V", "EXC TARDY", "EXT", 8, counts_for_ada=True),
    AbsenceCode("L", "LATE>30", "L30", 9, counts_for_ada=True, is_partial_day_truant=True),
    AbsenceCode("X", "SUSPENSION", "SUS", 2, is_suspension=True, color_code="Red"),
    AbsenceCode("N", "NOT ABSENT", "NAB", 4, counts_for_ada=True),
    AbsenceCode("P", "PRESENT", "PRS", 6, counts_for_ada=True),
    AbsenceCode("1", "IS COMPLT", "ISC", 4, counts_for_ada=True, independent_study_code="C"),
)

CODES_BY_LETTER: dict[str, AbsenceCode] = {c.code: c for c in ABSENCE_CODES}

UNVERIFIED = frozenset(c.code for c in ABSENCE_CODES if c.type_code == 1)
EXCUSED_REPLACEMENT = "I"  # what an office clerk turns an unverified "A" into once a note arrives
