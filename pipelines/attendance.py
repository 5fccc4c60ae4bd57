"""Sync Aeries attendance, students and schools into DuckDB or Postgres/Supabase.

Run `python pipelines/attendance.py --demo` to see it work offline against the simulator. Every
setting is declared once: the source's in `aeries_source.config.AeriesConfiguration`
(`[sources.aeries]`), the command's in `aeries_sync.options.SyncSettings` (`[sync]`); flags only
override them.
"""

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any, List, Optional

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from aeries_sync.tuning import arrow_default_pool_on_system_allocator  # noqa: E402

arrow_default_pool_on_system_allocator()  # before the imports below load pyarrow: see aeries_sync.tuning

from dlt.common.configuration import resolve_configuration  # noqa: E402

from aeries_source.config import resolve_configuration as resolve_source_configuration  # noqa: E402
from aeries_sync.demo import start_demo  # noqa: E402
from aeries_sync.failure_causes import EXIT_BAD_INPUT, classify_failure  # noqa: E402
from aeries_sync.logging_setup import configure_logging  # noqa: E402
from aeries_sync.monitoring import after_sync, resolve_monitoring  # noqa: E402
from aeries_sync.options import SyncOptions, SyncSettings  # noqa: E402
from aeries_sync.progress import SyncProgress  # noqa: E402
from aeries_sync.project_settings import settings_line, skip_airflow_secrets, use_project_settings  # noqa: E402
from aeries_sync.runner import run_sync  # noqa: E402
from aeries_sync.summary import describe_plan, render_summary  # noqa: E402
from aeries_sync.tuning import arrow_on_system_allocator, limit_malloc_arenas, return_freed_memory  # noqa: E402

# Flags that override a source setting of the same name (`[sources.aeries]`).
SOURCE_FLAGS = ("start_date", "end_date", "rows_per_item", "batch_days", "resume_from_batch", "school_codes",
                "lookback_days")


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


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:  # also refuses nan
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
    p.add_argument("--batch-days", type=_positive_int, help="days per batch: one attendance request (default 30)")
    p.add_argument("--rows-per-item", type=_positive_int,
                   help="attendance rows per item handed to dlt, a school's batches gathered (default 1: none)")
    p.add_argument("--resume-from-batch", type=_non_negative_int,
                   help="skip the plan's batches numbered below N (numbers as --dry-run shows them); "
                   "skipped batches no earlier sync of the same plan read are read by the next run")
    p.add_argument("--school-code", type=int, action="append", dest="school_codes",
                   help="sync only this school (repeatable); default every active school")
    p.add_argument("--lookback-days", type=_non_negative_int,
                   help="delta syncs re-read this many days before the cursor where no month is locked (default 14)")
    p.add_argument("--checkpoint-every", type=_positive_int,
                   help="batches per checkpoint at most (default: no limit)")
    p.add_argument("--checkpoint-seconds", type=_non_negative_float,
                   help="seconds of reading between checkpoints (default 10; 0: no limit)")
    p.add_argument("--dry-run", action="store_true",
                   help="check config and connectivity, print the plan, write nothing")
    p.add_argument("--destination", choices=("duckdb", "postgres"), default="duckdb",
                   help="where to load (default duckdb: a local file)")
    p.add_argument("--duckdb-path", help="DuckDB file (default <pipeline-name>.duckdb)")
    p.add_argument("--dataset-name", default="aeries", help="schema/dataset name (default aeries)")
    p.add_argument("--pipeline-name", default="aeries_attendance", help="dlt pipeline name (default aeries_attendance)")
    p.add_argument("--json-logs", action="store_true", help="write log lines (and the summary) as JSON")
    p.add_argument("--audit-log", help="append an audit trail of the sync (JSON lines, no student data) to this file")
    p.add_argument("--report", help="write an HTML report of the sync (plan, outcome, charts, measures) to this file")
    p.add_argument("--metrics-file", help="write the sync's Prometheus metrics to this file (node_exporter textfile)")
    p.add_argument("--demo", action="store_true",
                   help="start the offline Aeries simulator on 127.0.0.1 and sync a small synthetic district "
                   "into DuckDB")
    return p


def options_from(args: argparse.Namespace) -> SyncOptions:
    """Map the flags onto the declared settings: source flags over `[sources.aeries]`, the rest over `[sync]`."""
    command = resolve_configuration(SyncSettings(), sections=("sync",))
    return SyncOptions(
        source={name: getattr(args, name) for name in SOURCE_FLAGS if getattr(args, name) is not None},
        destination=args.destination,
        duckdb_path=str(Path(args.duckdb_path).resolve()) if args.duckdb_path else None,
        dataset_name=args.dataset_name,
        pipeline_name=args.pipeline_name,
        pipelines_dir=getattr(args, "pipelines_dir", None),
        dry_run=args.dry_run,
        checkpoint_every=args.checkpoint_every or command.checkpoint_every,
        checkpoint_seconds=(args.checkpoint_seconds if args.checkpoint_seconds is not None
                            else command.checkpoint_seconds),
        audit_log=args.audit_log or command.audit_log,
        duckdb_memory_limit=command.duckdb_memory_limit,
    )


def _base_url(options: SyncOptions) -> Optional[str]:
    """The district's Aeries address as the sync used it (flags, config or environment)."""
    try:
        return resolve_source_configuration(**options.source).base_url
    except Exception:  # the sync already reported what is wrong with the settings
        return None


def _cause(result: Any) -> str:
    """The one-line cause exactly as the command prints it on stderr ("" after a success)."""
    return render_summary(result)[1] or ""


def main(argv: Optional[List[str]] = None) -> int:
    """Parse flags, run the sync (or the demo), print the summary; return the exit code."""
    limit_malloc_arenas()  # before any thread allocates: see aeries_sync.tuning
    return_freed_memory()
    arrow_on_system_allocator()
    use_project_settings(PROJECT_DIR)
    skip_airflow_secrets()
    args = build_parser().parse_args(argv)
    debug = os.environ.get("ENHANCED_SYNC_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    redactor = configure_logging(debug=debug, json_lines=args.json_logs)
    simulator = None
    try:
        if args.demo:
            simulator = start_demo(args)
            print(f"Demo: synthetic district served by the Aeries simulator at {simulator.base_url}; "
                  f"loading into {args.duckdb_path}")
        try:
            options = options_from(args)
            monitoring = resolve_monitoring(args.report, args.metrics_file)
        except Exception as exc:  # a [sync], [report], [alerts] or [metrics] setting that cannot work: exit 2
            print(f"error: {classify_failure(exc)[2]}", file=sys.stderr)
            return EXIT_BAD_INPUT
        for name in ("SOURCES__AERIES__CERTIFICATE", "SOURCES__AERIES__PSEUDONYMIZE_KEY"):
            redactor.add_secret(os.environ.get(name))
        progress = SyncProgress()

        def on_plan(plan: Any) -> None:
            if options.dry_run:
                print(settings_line())
                print("\n".join(describe_plan(plan)))
            else:
                progress.start(plan)

        result = run_sync(options, on_batch_done=progress.batch_done, on_plan=on_plan,
                          on_secrets=redactor.add_secret)
        progress.close()
        if result.status == "bad_input":
            print(f"error: {result.message}", file=sys.stderr)
            return result.exit_code
        summary, error = render_summary(result, json_lines=args.json_logs)
        print(summary)
        if error:
            print(error, file=sys.stderr)
        if not options.dry_run:
            report = after_sync(monitoring, result, options, _base_url(options), _cause(result))
            if report and not args.json_logs:
                print(f"  report: {report}")
        return result.exit_code
    finally:
        if simulator is not None:
            simulator.stop()


if __name__ == "__main__":
    sys.exit(main())
