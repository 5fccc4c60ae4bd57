"""The HTML report of one sync: its plan and outcome per school, batch charts and, where loaded, the measures.

One self-contained file: styles inline, charts as PNG data URIs, no script, no font and no link to
fetch. It holds aggregates only (never a student's id or name), and measure cells of fewer than
`min_cell_size` students are suppressed.
"""

import html
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

import dlt

from aeries_sync import report_charts
from aeries_sync.report_charts import BatchBar
from aeries_sync.runner import SyncResult

logger = logging.getLogger(__name__)


@dataclass
class MeasureFigures:
    """What the report shows of the measures: per-school weekly rates, chronic rates and school rows."""

    weekly: Dict[int, List[Tuple[date, Optional[float]]]] = field(default_factory=dict)
    chronic: Dict[int, float] = field(default_factory=dict)
    schools: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    suppressed: List[int] = field(default_factory=list)
    data_through: Dict[int, date] = field(default_factory=dict)


def read_measures(pipeline: dlt.Pipeline, min_cell_size: int) -> Optional[MeasureFigures]:
    """Read the measures' aggregates from the destination; None when they are not there (or it is down).

    A week of a school whose fewest enrolled students on a day is below `min_cell_size` is left
    out, and so is a whole school with fewer students than that, in every table and chart.
    """
    try:
        with pipeline.sql_client() as client:
            def table(name: str) -> str:
                return str(client.make_qualified_table_name(name))

            through = {int(sc): d for sc, d in client.execute_sql(
                f"SELECT school_code, data_through FROM {table('data_through')}") or ()}
            rows = client.execute_sql(
                f"SELECT school_code, students, instructional_days, ada, attendance_rate, chronic_absentees, "
                f"chronic_absence_eligible, chronic_absenteeism_rate FROM {table('school_attendance_summary')}")
            weekly = client.execute_sql(
                f"SELECT school_code, date_trunc('week', attendance_date) AS week, SUM(present), SUM(enrolled), "
                f"MIN(enrolled) FROM {table('daily_attendance')} GROUP BY 1, 2 ORDER BY 1, 2")
    except Exception as exc:  # no measures yet, or the destination is down: the report goes without them
        logger.debug("the report shows no measures: %s", type(exc).__name__)
        return None
    figures = MeasureFigures(data_through=through)
    for sc, students, days, ada, rate, chronic, eligible, chronic_rate in rows or ():
        sc = int(sc)
        if int(students) < min_cell_size:
            figures.suppressed.append(sc)
            continue
        figures.schools[sc] = {"students": int(students), "instructional_days": int(days), "ada": ada,
                               "attendance_rate": rate, "chronic_absentees": int(chronic),
                               "chronic_absence_eligible": int(eligible)}
        if chronic_rate is not None and int(eligible) >= min_cell_size:
            figures.chronic[sc] = float(chronic_rate)
    for sc, week, present, enrolled, fewest in weekly or ():
        sc = int(sc)
        if sc in figures.suppressed:
            continue
        day = week.date() if isinstance(week, datetime) else week
        rate = float(present) / float(enrolled) if enrolled and int(fewest) >= min_cell_size else None
        figures.weekly.setdefault(sc, []).append((day, rate))
    return figures


def batch_bars(result: SyncResult) -> Tuple[List[BatchBar], List[int]]:
    """Every planned batch with its outcome, and the schools that had nothing to read (up to date)."""
    if result.plan is None:
        return [], []
    records = {row["batch"]: row for row in result.batch_rows}
    skipped = set(result.skipped_batches)
    done = set(result.done_batches)
    bars = []
    for batch in result.plan.batches:
        row = records.get(batch.number)
        if row is not None:
            outcome = {"done": "read", "failed": "failed", "skipped": "skipped"}.get(row["status"], "not read")
        elif batch.number in skipped:
            outcome = "skipped"
        elif batch.number in done:
            outcome = "read"
        else:
            outcome = "not read"
        bars.append(BatchBar(batch.number, batch.school_code, batch.start, batch.end, outcome,
                             int(row["rows"]) if row else 0, float(row["seconds"]) if row else 0.0))
    up_to_date = [r.school_code for r in result.plan.ranges if r.end < r.start]
    return bars, up_to_date


def render_report(
    result: SyncResult, pipeline_name: str, dataset_name: str, district: str, min_cell_size: int,
    measures: Optional[MeasureFigures],
) -> str:
    """Return the report's HTML.

    Args:
        result: The sync's result (plan, batch rows, counts).
        pipeline_name: The pipeline, named in the heading.
        dataset_name: The dataset, named in the heading.
        district: The Aeries server's host and port.
        min_cell_size: Measure cells of fewer students are suppressed.
        measures: The measures' aggregates, or None.
    """
    bars, up_to_date = batch_bars(result)
    e = html.escape
    parts = [f"<h1>Aeries sync: {e(result.status)} (exit code {result.exit_code})</h1>",
             "<p class=meta>" + " · ".join(e(x) for x in (
                 f"pipeline {pipeline_name}", f"dataset {dataset_name}", f"district {district}",
                 f"run {result.run_id or '—'}", f"{result.seconds:.1f} s",
                 f"written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")) + "</p>"]
    if result.message:
        parts.append(f"<p class=cause>{e(result.message)}</p>")
    parts.append(_summary_table(result))
    parts.append("<h2>Plan and outcome per school</h2>")
    parts.append(_school_table(result, bars, up_to_date, measures))
    if bars or up_to_date:
        parts.append(_figure(report_charts.batch_timeline(bars, up_to_date), "Batch timeline"))
    if bars:
        parts.append(_figure(report_charts.rows_and_seconds(bars), "Rows and seconds per batch"))
    parts.append("<h2>Attendance measures</h2>")
    if measures is None or not (measures.schools or measures.suppressed):
        parts.append("<p>No measures in the dataset yet.</p>")
    else:
        parts.append(_measures_table(measures, min_cell_size))
        if measures.weekly:
            parts.append(_figure(report_charts.weekly_attendance_rate(measures.weekly), "Weekly attendance rate"))
        if measures.chronic:
            parts.append(_figure(report_charts.chronic_absenteeism(measures.chronic), "Chronic absenteeism"))
    return _PAGE.format(title=e(f"Aeries sync {result.run_id or result.status}"), body="\n".join(parts))


def _summary_table(result: SyncResult) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in sorted(result.errors.items())) or "none"
    rows = [("mode", result.plan.mode if result.plan else "—"),
            ("rows loaded", ", ".join(f"{t} {n}" for t, n in sorted(result.rows.items())) or "none"),
            ("requests", f"{result.requests} (retries {result.retries})"),
            ("errors by class", errors),
            ("failed batches", ", ".join(str(b) for b in sorted(result.failed_batches)) or "none"),
            ("skipped schools", ", ".join(str(s) for s in result.skipped_schools) or "none"),
            ("records rejected", str(result.rejects))]
    return _table(("", ""), rows)


def _school_table(result: SyncResult, bars: Sequence[BatchBar], up_to_date: Sequence[int],
                  measures: Optional[MeasureFigures]) -> str:
    if result.plan is None:
        return "<p>No plan: the sync stopped before planning.</p>"
    per_school: Dict[int, List[BatchBar]] = defaultdict(list)
    for bar in bars:
        per_school[bar.school_code].append(bar)
    requests: Counter = Counter()
    error_classes: Dict[int, Counter] = defaultdict(Counter)
    for row in result.batch_rows:
        requests[row["school_code"]] += int(row["requests"] or 0)
        if row.get("error_class"):
            error_classes[row["school_code"]][row["error_class"]] += 1
    through = measures.data_through if measures else {}
    rows = []
    for school_range in result.plan.ranges:
        sc = school_range.school_code
        mine = per_school.get(sc, [])
        outcomes = Counter(b.outcome for b in mine)
        window = "up to date" if sc in up_to_date else f"{school_range.start} – {school_range.end}"
        rows.append((str(sc), window, ", ".join(f"{o} {n}" for o, n in sorted(outcomes.items())) or "—",
                     str(sum(b.rows for b in mine)), f"{sum(b.seconds for b in mine):.1f}", str(requests[sc]),
                     ", ".join(f"{k} {v}" for k, v in sorted(error_classes[sc].items())) or "none",
                     str(through.get(sc, "—"))))
    return _table(("school", "planned range", "batches", "rows", "seconds", "requests", "errors by class",
                   "data through"), rows)


def _measures_table(measures: MeasureFigures, min_cell_size: int) -> str:
    rows = []
    for sc, m in sorted(measures.schools.items()):
        chronic = measures.chronic.get(sc)
        rows.append((str(sc), str(m["students"]), str(m["instructional_days"]), _num(m["ada"], 1),
                     _pct(m["attendance_rate"]), str(m["chronic_absentees"]),
                     _pct(chronic) if chronic is not None else f"suppressed (< {min_cell_size})"))
    for sc in sorted(measures.suppressed):
        rows.append((str(sc),) + (f"suppressed (fewer than {min_cell_size} students)",) + ("",) * 5)
    return _table(("school", "students", "instructional days", "ADA", "attendance rate", "chronic absentees",
                   "chronic absenteeism rate"), rows)


def _num(value: Any, digits: int) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f} %"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _figure(data_uri: str, caption: str) -> str:
    return (f'<figure><img src="{data_uri}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.2em; margin-top: 2em; }}
.meta {{ color: #555; }} .cause {{ background: #fdecea; padding: .5em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: .3em .6em; text-align: left; font-size: .9em; }}
th {{ background: #f3f3f3; }} img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: .85em; }}
</style></head>
<body>
{body}
<p class=meta>Aggregates only: no student's id or name. Synthetic data when run against the simulator.</p>
</body></html>
"""
