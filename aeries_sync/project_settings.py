"""Which `.dlt/` settings folder the command reads, and dlt's telemetry kept off."""

import os
from pathlib import Path

import dlt


def use_project_settings(project_dir: Path) -> None:
    """Read the project's `.dlt/` wherever the command is started from, and keep dlt's telemetry off.

    `DLT_PROJECT_DIR` (dlt's own variable) may point at another folder holding `.dlt/`. A sync
    talks to Aeries and the database only, so telemetry is off whatever that folder says.
    """
    os.environ.setdefault("DLT_PROJECT_DIR", str(project_dir))
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"


def skip_airflow_secrets() -> None:
    """Keep dlt from reading secrets from Airflow Variables outside Airflow (the command, the tests).

    When Airflow is installed (requirements-airflow.txt), dlt's config imports it on first use to
    look for an Airflow Variable of secrets: about a second, Airflow's logging set up on the root
    logger, and an `~/airflow` folder created, in a process that is no Airflow task.
    """
    os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")


def settings_line() -> str:
    """Where the settings come from and whether telemetry is off, as dlt resolves them."""
    folder = Path(os.environ["DLT_PROJECT_DIR"]) / ".dlt"
    telemetry = dlt.config.get("runtime.dlthub_telemetry", bool)
    return f"settings: {folder} (dlt telemetry {'on' if telemetry else 'off'})"
