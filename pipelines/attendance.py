"""Sync Aeries attendance, students and schools into DuckDB or Postgres/Supabase.

Run `python pipelines/attendance.py --demo` to see it work offline against the simulator.
"""

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any, Dict, List, Optional

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import dlt  # noqa: E402

from aeries_source import settings  # noqa: E402
from aeries_source.client import RetryPolicy  # noqa: E402
from aeries_source.logging_setup import configure_logging  # noqa: E402
from aeries_source.planning import batch_ranges  # noqa: E402
from aeries_source.progress import SyncProgress  # noqa: E402
from aeries_source.runner import (  # noqa: E402
    EXIT_BAD_INPUT,
    EXIT_OK,
    SyncOptions,
    SyncResult,
    describe_plan,
    describe_window,
    run_sync,
)

DEMO_DIR = Path("demo_output")


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} cannot be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (those of the original design plus destination and demo options)."""
    p = _OneLineParser(
        description="Copy Aeries attendance, students and schools into DuckDB or Postgres/Supabase. "
        "With no date flags the first run loads the school year so far and later runs are delta syncs.",
    )
    p.add_argument("--start-date", type=_date_arg, help="first attendance date to sync (YYYY-MM-DD)")
    p.add_argument("--end-date", type=_date_arg, help="last attendance date to sync, inclusive (YYYY-MM-DD)")
    p.add_argument("--batch-size", type=_positive_int, help="attendance records per batch (default 500)")
    p.add_argument("--chunk-days", type=_positive_int, help="days per attendance request (default 30)")
    p.add_argument("--resume-from-batch", type=_non_negative_int, default=0,
                   help="skip the plan's batches numbered below N (numbers as --dry-run shows them); "
                   "skipped batches no earlier sync of the same plan read are read by the next run")
    p.add_argument("--school-code", type=int, action="append", dest="school_codes",
                   help="sync only this school (repeatable); default every active school")
    p.add_argument("--lookback-days", type=_non_negative_int,
                   help="delta syncs re-read this many days before the cursor where no month is locked (default 14)")
    p.add_argument("--dry-run", action="store_true",
                   help="check config and connectivity, print the plan, write nothing")
    p.add_argument("--destination", choices=("duckdb", "postgres"), default="duckdb",
                   help="where to load (default duckdb: a local file)")
    p.add_argument("--duckdb-path", help="DuckDB file (default <pipeline-name>.duckdb)")
    p.add_argument("--dataset-name", default="aeries", help="schema/dataset name (default aeries)")
    p.add_argument("--pipeline-name", default="aeries_attendance", help="dlt pipeline name (default aeries_attendance)")
    p.add_argument("--json-logs", action="store_true", help="write log lines as JSON")
    p.add_argument("--audit-log", help="append an audit trail of the sync (JSON lines, no student data) to this file")
    p.add_argument("--demo", action="store_true",
                   help="start the offline Aeries simulator on 127.0.0.1 and sync a small synthetic district "
                   "into DuckDB")
    return p


def _config(key: str, default: Any = None) -> Any:
    value = dlt.config.get(f"sources.aeries.{key}")
    return default if value is None else value


def _secret(key: str) -> Optional[str]:
    value = dlt.secrets.get(f"sources.aeries.{key}")
    return str(value) if value else None


def _config_date(key: str, default: Optional[date]) -> Optional[date]:
    value = _config(key)
    if value is None or value == "":
        return default
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _config_int(key: str, default: int) -> int:
    value = _config(key, default)
    return int(value)


def options_from(args: argparse.Namespace) -> SyncOptions:
    """Merge flags over `[sources.aeries]` config; flags win.

    Raises:
        ValueError: When a config value has the wrong form.
    """
    codes = args.school_codes or _config("school_codes")
    if isinstance(codes, str):
        codes = [int(c) for c in codes.replace(",", " ").split()]
    fields = _config("student_fields")
    if isinstance(fields, str):
        fields = [f for f in fields.replace(",", " ").split() if f]
    ca_bundle = _config("ca_bundle")
    verify: Any = ca_bundle if ca_bundle else bool(_config("verify_tls", True))
    return SyncOptions(
        base_url=str(_config("base_url") or _secret("base_url") or ""),
        certificate=_secret("certificate") or "",
        database_year=_config_int("database_year", settings.DEFAULT_DATABASE_YEAR),
        start_date=args.start_date or _config_date("start_date", None),
        end_date=args.end_date or _config_date("end_date", None),
        school_year_start=_config_date("school_year_start", settings.DEFAULT_START_DATE),  # type: ignore[arg-type]
        school_year_end=_config_date("school_year_end", settings.DEFAULT_END_DATE),  # type: ignore[arg-type]
        chunk_days=args.chunk_days or _config_int("chunk_days", settings.DEFAULT_CHUNK_DAYS),
        batch_size=args.batch_size or _config_int("batch_size", settings.DEFAULT_BATCH_SIZE),
        school_codes=[int(c) for c in codes] if codes else None,
        lookback_days=args.lookback_days if args.lookback_days is not None
        else _config_int("lookback_days", settings.DEFAULT_LOOKBACK_DAYS),
        resume_from_batch=args.resume_from_batch,
        checkpoint_every=_config_int("checkpoint_every", settings.DEFAULT_CHECKPOINT_EVERY),
        breaker_threshold=_config_int("breaker_threshold", 10),
        destination=args.destination,
        duckdb_path=str(Path(args.duckdb_path).resolve()) if args.duckdb_path else None,
        dataset_name=args.dataset_name,
        pipelines_dir=str(Path(args.pipelines_dir).resolve()) if getattr(args, "pipelines_dir", None) else None,
        pipeline_name=args.pipeline_name,
        dry_run=args.dry_run,
        retry=RetryPolicy(
            max_attempts=_config_int("request_max_attempts", 5),
            backoff_factor=float(_config("request_backoff_factor", 1.0)),
            max_delay=float(_config("request_max_retry_delay", 60.0)),
            max_total_wait=float(_config("request_max_total_wait", 600.0)),
            timeout=float(_config("request_timeout", 60.0)),
        ),
        verify_tls=verify,
        pseudonymize_key=_secret("pseudonymize_key"),
        student_fields=list(fields) if fields else None,
        audit_log=args.audit_log or _config("audit_log"),
    )


def summary_lines(result: SyncResult) -> List[str]:
    """What the sync did, as the lines of the text summary."""
    lines = [f"Aeries sync {result.status} (exit {result.exit_code}) in {result.seconds:.1f} s"
             + (f", run {result.run_id}" if result.run_id else "")]
    if result.message:
        lines.append(f"  {result.message}")
    if result.plan is not None:
        plan = result.plan
        lines.append(f"  {plan.mode} sync: {len(plan.school_codes)} school(s), {len(plan.units)} batch(es)")
        for window in plan.windows:
            verb = "" if window.end < window.start else "re-read "
            lines.append(f"    school {window.school_code} {verb}{describe_window(window)}")
    if result.changes:
        lines.append("  changes (+inserted ~updated -deleted): "
                     + ", ".join(f"{t} {c}" for t, c in sorted(result.changes.items())))
    if result.rows:
        lines.append("  rows loaded: " + ", ".join(f"{t} {n}" for t, n in sorted(result.rows.items())))
        lines.append(f"  attendance records/s: {result.records_per_second:.0f}")
    lines.append(f"  requests: {result.requests} (retries {result.retries}); pipeline runs: {result.pipeline_runs}")
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
        "windows": [
            {"school_code": w.school_code, "start": str(w.start), "end": str(w.end), "reason": w.reason,
             "up_to_date": w.end < w.start}
            for w in (plan.windows if plan else [])
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
    }


def print_summary(result: SyncResult, json_lines: bool = False) -> None:
    """Print what the sync did on stdout (one JSON line with `json_lines`); a failure's cause also on stderr."""
    if json_lines:
        print(json.dumps(summary_record(result), default=str))
    else:
        print("\n".join(summary_lines(result)))
    if result.exit_code != EXIT_OK:
        cause = result.message or result.status
        if json_lines:
            print(json.dumps({"level": "error", "logger": "aeries.command", "message": cause}), file=sys.stderr)
        else:
            print(f"error: {cause}", file=sys.stderr)


def use_project_settings() -> None:
    """Read the project's `.dlt/` wherever the command is started from, and keep dlt's telemetry off.

    `DLT_PROJECT_DIR` (dlt's own variable) may point at another folder holding `.dlt/`. A sync
    talks to Aeries and the database only, so telemetry is off whatever that folder says.
    """
    os.environ.setdefault("DLT_PROJECT_DIR", str(PROJECT_DIR))
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"


def settings_line() -> str:
    """Where the settings come from and whether telemetry is off, as dlt resolves them."""
    folder = Path(os.environ["DLT_PROJECT_DIR"]) / ".dlt"
    telemetry = dlt.config.get("runtime.dlthub_telemetry", bool)
    return f"settings: {folder} (dlt telemetry {'on' if telemetry else 'off'})"


def main(argv: Optional[List[str]] = None) -> int:
    """Parse flags, run the sync (or the demo), print the summary; return the exit code."""
    use_project_settings()
    args = build_parser().parse_args(argv)
    debug = os.environ.get("ENHANCED_SYNC_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    redactor = configure_logging(debug=debug, json_lines=args.json_logs)
    simulator = None
    try:
        if args.demo:
            simulator = _start_demo(args)
        try:
            options = options_from(args)
        except (ValueError, TypeError) as exc:
            print(f"error: bad configuration: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        redactor.add_secret(options.certificate)
        redactor.add_secret(options.pseudonymize_key)
        progress = SyncProgress()

        def on_plan(plan: Any) -> None:
            if options.dry_run:
                print(settings_line())
                for line in describe_plan(plan, options.batch_size):
                    print(line)
            else:
                progress.start(plan)

        result = run_sync(options, on_unit_done=progress.unit_done, on_plan=on_plan)
        progress.close()
        if result.status == "bad_input":
            print(f"error: {result.message}", file=sys.stderr)
            return result.exit_code
        print_summary(result, json_lines=args.json_logs)
        return result.exit_code
    finally:
        if simulator is not None:
            simulator.stop()


def _start_demo(args: argparse.Namespace) -> Any:
    from aeries_simulator import AeriesSimulator, DistrictSpec

    simulator = AeriesSimulator(DistrictSpec.small()).start(host="127.0.0.1", port=0)
    os.environ["SOURCES__AERIES__BASE_URL"] = simulator.base_url
    os.environ["SOURCES__AERIES__CERTIFICATE"] = simulator.certificate
    DEMO_DIR.mkdir(exist_ok=True)
    if args.duckdb_path is None:
        args.duckdb_path = str(DEMO_DIR / "aeries_demo.duckdb")
    # The demo keeps its dlt state beside its database: deleting demo_output starts it afresh.
    args.pipelines_dir = str(DEMO_DIR / "pipelines")
    if args.pipeline_name == "aeries_attendance":
        args.pipeline_name = "aeries_demo"
    args.destination = "duckdb"
    print(f"Demo: synthetic district served by the Aeries simulator at {simulator.base_url}; "
          f"loading into {args.duckdb_path}")
    return simulator


if __name__ == "__main__":
    sys.exit(main())
