"""The report's charts, drawn with matplotlib into PNG data URIs (nothing fetched, nothing global changed).

matplotlib's object interface (`Figure` with the Agg canvas) is used instead of `pyplot`: it draws
without a display or a global backend, so importing this module changes no library's settings.
Its fonts ship with it, so a chart never refers to a font to fetch.
"""

import base64
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Dict, List, Optional, Sequence, Tuple

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

# Batch outcome -> colour (colour-blind safe: Okabe-Ito).
OUTCOME_COLOURS: Dict[str, str] = {
    "read": "#009E73", "failed": "#D55E00", "skipped": "#E69F00", "not read": "#999999",
    "up to date": "#56B4E9",
}


@dataclass(frozen=True)
class BatchBar:
    """One batch of the plan as the report draws it: its school, window, outcome, rows and seconds."""

    number: int
    school_code: int
    start: date
    end: date
    outcome: str
    rows: int = 0
    seconds: float = 0.0


def _png(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def batch_timeline(bars: Sequence[BatchBar], up_to_date: Sequence[int]) -> str:
    """A timeline per school: one bar per batch over its date window, coloured by outcome."""
    schools = sorted({b.school_code for b in bars} | set(up_to_date))
    figure = Figure(figsize=(10, 0.45 * len(schools) + 1.4))
    axes = figure.add_subplot()
    rows = {sc: n for n, sc in enumerate(schools)}
    for bar in bars:
        days = (bar.end - bar.start).days + 1
        axes.barh(rows[bar.school_code], days, left=bar.start.toordinal(), height=0.6,
                  color=OUTCOME_COLOURS[bar.outcome], edgecolor="white")
    for sc in up_to_date:
        axes.text(0.01, rows[sc], "up to date", transform=axes.get_yaxis_transform(), va="center",
                  color=OUTCOME_COLOURS["up to date"])
    axes.set_yticks(range(len(schools)), [f"school {sc}" for sc in schools])
    axes.invert_yaxis()
    if bars:
        first = min(b.start for b in bars)
        last = max(b.end for b in bars)
        ticks = _month_starts(first, last)
        axes.set_xticks([t.toordinal() for t in ticks], [t.strftime("%b %Y") for t in ticks])
        axes.set_xlim(first.toordinal() - 1, last.toordinal() + 2)
    axes.set_title("Batches of this sync by school and date window")
    axes.legend(handles=[Patch(color=c, label=o) for o, c in OUTCOME_COLOURS.items()], loc="upper center",
                bbox_to_anchor=(0.5, -0.12), ncol=len(OUTCOME_COLOURS), frameon=False)
    return _png(figure)


def _month_starts(first: date, last: date) -> List[date]:
    months = []
    day = date(first.year, first.month, 1)
    while day <= last:
        if day >= first - timedelta(days=1):
            months.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return months or [first]


def rows_and_seconds(bars: Sequence[BatchBar]) -> str:
    """Rows and seconds per batch, in plan order: two bar charts sharing the batch axis."""
    figure = Figure(figsize=(10, 4.6))
    top, bottom = figure.subplots(2, 1, sharex=True)
    numbers = [b.number for b in bars]
    colours = [OUTCOME_COLOURS[b.outcome] for b in bars]
    top.bar(numbers, [b.rows for b in bars], color=colours)
    top.set_ylabel("rows")
    top.set_title("Attendance rows and seconds per batch")
    bottom.bar(numbers, [b.seconds for b in bars], color=colours)
    bottom.set_ylabel("seconds")
    bottom.set_xlabel("batch (as --dry-run numbers them)")
    return _png(figure)


def weekly_attendance_rate(series: Dict[int, List[Tuple[date, Optional[float]]]]) -> str:
    """Attendance rate per school per week: one line per school (None: a suppressed week, left as a gap)."""
    figure = Figure(figsize=(10, 4.2))
    axes = figure.add_subplot()
    for sc, points in sorted(series.items()):
        weeks: List[Any] = [p[0] for p in points]  # matplotlib plots dates; its stubs say numbers
        axes.plot(weeks, [float("nan") if p[1] is None else 100 * p[1] for p in points],
                  marker=".", label=f"school {sc}")
    axes.set_ylabel("attendance rate (%)")
    axes.set_title("Attendance rate per school and week (days present / days enrolled)")
    axes.grid(alpha=0.3)
    if series:
        axes.legend(loc="lower left", fontsize="small", ncol=4)
    figure.autofmt_xdate()
    return _png(figure)


def chronic_absenteeism(rates: Dict[int, float]) -> str:
    """Chronic-absenteeism rate per school, as bars."""
    figure = Figure(figsize=(10, 3.6))
    axes = figure.add_subplot()
    schools = sorted(rates)
    axes.bar(range(len(schools)), [100 * rates[sc] for sc in schools], color="#0072B2")
    axes.set_xticks(range(len(schools)), [str(sc) for sc in schools])
    axes.set_xlabel("school")
    axes.set_ylabel("chronically absent (%)")
    axes.set_title("Chronic absenteeism rate per school (students enrolled 31+ days)")
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)
