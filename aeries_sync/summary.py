"""What a sync plans and did, in words: the dry-run plan, the text summary and its JSON form."""

import json
from typing import Any, Dict, List, Optional, Tuple

from aeries_source import settings
from aeries_source.planning import SchoolRange, SyncPlan, batch_ranges
from aeries_sync.failure_causes import EXIT_OK
from aeries_sync.runner import SyncResult


def describe_range(school_range: SchoolRange) -> str:
    """Say what a sync reads of one school: its date range and why, or that it is up to date."""
    if school_range.end < school_range.start:
        return f"up to date (attendance read through {school_range.end})"
    return f"{school_range.start}..{school_range.end} ({school_range.reason})"


def describe_plan(plan: SyncPlan) -> List[str]:
    """Return the plan as lines for `--dry-run`: schools, their ranges, batches and estimated requests."""
    lines = [f"mode: {plan.mode}; {len(plan.school_codes)} school(s); {len(plan.batches)} batch(es)"]
    for sc in plan.school_codes:
        for school_range in plan.ranges_for(sc):
            batches = [u for u in plan.batches_for(sc) if school_range.start <= u.start <= school_range.end]
            if not batches:
                lines.append(f"  school {sc}: {describe_range(school_range)}")
                continue
            numbers = f"batches {batches[0].number}-{batches[-1].number}"
            lines.append(f"  school {sc}: {describe_range(school_range)}, {numbers}")
    for batch in plan.batches:
        lines.append(f"    batch {batch.number}: school {batch.school_code} {batch.start}..{batch.end}")
    small = 3 + 4 * len(plan.school_codes)  # systeminfo, schools; per school calendar, codes, students, enrollment
    lines.append(
        f"estimated requests: {len(plan.batches)} attendance + about {small} others "
        f"(student pages add one per {settings.DEFAULT_STUDENT_PAGE_SIZE} students)"
    )
    return lines


def summary_lines(result: SyncResult) -> List[str]:
    """What the sync did, as the lines of the text summary."""
    lines = [f"Aeries sync {result.status} (exit {result.exit_code}) in {result.seconds:.1f} s"
             + (f", run {result.run_id}" if result.run_id else "")]
    if result.message:
        lines.append(f"  {result.message}")
    if result.plan is not None:
        plan = result.plan
        lines.append(f"  {plan.mode} sync: {len(plan.school_codes)} school(s), {len(plan.batches)} batch(es)")
        for school_range in plan.ranges:
            verb = "" if school_range.end < school_range.start else "re-read "
            lines.append(f"    school {school_range.school_code} {verb}{describe_range(school_range)}")
    if result.changes:
        lines.append("  changes (+inserted ~updated -deleted): "
                     + ", ".join(f"{t} {c}" for t, c in sorted(result.changes.items())))
    if result.rows:
        lines.append("  rows loaded: " + ", ".join(f"{t} {n}" for t, n in sorted(result.rows.items())))
        lines.append(f"  attendance records/s: {result.records_per_second:.0f}")
    lines.append(f"  requests: {result.requests} (retries {result.retries}); checkpoints: {result.pipeline_runs}")
    errors = ", ".join(f"{k} {v}" for k, v in sorted(result.errors.items())) or "none"
    lines.append(f"  errors by class: {errors}")
    if result.failed_batches:
        lines.append(f"  failed batches (retried next run): {sorted(result.failed_batches)}")
    if result.skipped_batches:
        lines.append("  batches skipped by --resume-from-batch (read by the next run): "
                     f"{batch_ranges(result.skipped_batches)}")
    if result.skipped_schools:
        lines.append(f"  schools skipped by the circuit breaker: {result.skipped_schools}")
    if result.rejects:
        lines.append(f"  records rejected (see the rejects table): {result.rejects}")
    if result.measures:
        lines.append(f"  measures refreshed in {result.measures_seconds:.1f} s: {', '.join(result.measures)}")
    if result.measures_error:
        lines.append(f"  measures NOT refreshed ({result.measures_error}); see the log")
    return lines


def summary_record(result: SyncResult) -> Dict[str, Any]:
    """What the sync did, as one JSON object (the summary under `--json-logs`)."""
    plan = result.plan
    return {
        "event": "sync_summary",
        "status": result.status,
        "exit_code": result.exit_code,
        "message": result.message,
        "run_id": result.run_id,
        "seconds": round(result.seconds, 3),
        "mode": plan.mode if plan else None,
        "ranges": [
            {"school_code": w.school_code, "start": str(w.start), "end": str(w.end), "reason": w.reason,
             "up_to_date": w.end < w.start}
            for w in (plan.ranges if plan else [])
        ],
        "rows": dict(sorted(result.rows.items())),
        "attendance_records_per_s": round(result.records_per_second, 1),
        "requests": result.requests,
        "retries": result.retries,
        "pipeline_runs": result.pipeline_runs,
        "errors_by_class": dict(sorted(result.errors.items())),
        "failed_batches": sorted(result.failed_batches),
        "skipped_batches": result.skipped_batches,
        "skipped_schools": result.skipped_schools,
        "rejects": result.rejects,
        "changes": {t: str(c) for t, c in sorted(result.changes.items())},
        "measures": result.measures,
        "measures_error": result.measures_error,
        "measures_seconds": round(result.measures_seconds, 3),
    }


def render_summary(result: SyncResult, json_lines: bool = False) -> Tuple[str, Optional[str]]:
    """Return what the command prints: the summary for stdout and, after a failure, its cause for stderr.

    With `json_lines` both are JSON lines, like the log lines of `--json-logs`.
    """
    summary = json.dumps(summary_record(result), default=str) if json_lines else "\n".join(summary_lines(result))
    if result.exit_code == EXIT_OK:
        return summary, None
    cause = result.message or result.status
    if json_lines:
        return summary, json.dumps({"level": "error", "logger": "aeries.command", "message": cause})
    return summary, f"error: {cause}"
