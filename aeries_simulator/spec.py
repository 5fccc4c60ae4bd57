"""Size, seed and school-year dates of a synthetic district."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any


@dataclass(frozen=True)
class DistrictSpec:
    """Parameters from which a synthetic district is generated deterministically.

    Attributes:
        seed: Seed for every generated value; same seed, same bytes.
        schools: Number of real schools (codes 101, 102, ...).
        students_per_school: Students whose home school is each real school.
        school_year: Starting year of the default DatabaseYear (2024 means 2024-2025).
        first_day: First school day; defaults to 15 August of ``school_year``.
        last_day: Last school day; defaults to 12 June of the following year.
        today: Simulated clock date; defaults to the day after ``last_day``.
    """

    seed: int = 1
    schools: int = 3
    students_per_school: int = 60
    school_year: int = 2024
    first_day: date = field(default=None)  # type: ignore[assignment]
    last_day: date = field(default=None)  # type: ignore[assignment]
    today: date = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        """Fill in date defaults and reject impossible sizes."""
        # Frozen dataclass: derived defaults are filled in with object.__setattr__.
        if self.first_day is None:
            object.__setattr__(self, "first_day", date(self.school_year, 8, 15))
        if self.last_day is None:
            object.__setattr__(self, "last_day", date(self.school_year + 1, 6, 12))
        if self.today is None:
            object.__setattr__(self, "today", self.last_day + timedelta(days=1))
        if self.schools < 1 or self.students_per_school < 1:
            raise ValueError("a district needs at least one school and one student per school")
        if self.schools > 98:
            raise ValueError("at most 98 schools (codes 101..198)")
        if self.students_per_school > 89_999:
            raise ValueError("at most 89,999 students per school")
        if self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")

    @classmethod
    def small(cls, **overrides: Any) -> DistrictSpec:
        """Return the demo district: 3 schools x 60 students."""
        return cls(**{"schools": 3, "students_per_school": 60, **overrides})

    @classmethod
    def large(cls, **overrides: Any) -> DistrictSpec:
        """Return the load-test district: 20 schools x 2,000 students."""
        return cls(**{"schools": 20, "students_per_school": 2000, **overrides})

    def prior_year(self) -> DistrictSpec:
        """Return the same district one school year earlier, with every month long past."""
        first = _minus_year(self.first_day)
        last = _minus_year(self.last_day)
        return replace(self, school_year=self.school_year - 1, first_day=first, last_day=last,
                       today=last + timedelta(days=60))


def _minus_year(day: date) -> date:
    """Return the same calendar date one year earlier (28 Feb for 29 Feb)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)
