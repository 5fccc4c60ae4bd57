"""The command's settings and output: project config from any folder, telemetry off, summaries, bad names."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from test_cli import ROOT, SCRIPT, run_cli, sim_env


def _bare_env(tmp_path: Path, **extra: str) -> dict:
    """An environment without the tests' settings: no DLT_PROJECT_DIR, a data folder of its own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOURCES__", "DESTINATION__", "RUNTIME__", "DLT_"))}
    env.update({"DLT_DATA_DIR": str(tmp_path / "dlt_data"), **extra})
    return env


def test_command_reads_the_project_settings_from_any_folder(sim, tmp_path):
    """Started from a folder without `.dlt` (cron from $HOME), it reads the project's own."""
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], cwd=elsewhere,
                            env=_bare_env(tmp_path, **sim_env(sim)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"settings: {ROOT / '.dlt'} (dlt telemetry off)" in result.stdout


def test_dlt_project_dir_points_elsewhere_and_telemetry_stays_off(sim, tmp_path):
    project = tmp_path / "district_project"
    (project / ".dlt").mkdir(parents=True)
    (project / ".dlt" / "config.toml").write_text(
        "[sources.aeries]\nbatch_days = 7\n\n[runtime]\ndlthub_telemetry = true\n")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = _bare_env(tmp_path, DLT_PROJECT_DIR=str(project), **sim_env(sim))
    result = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--school-code", "101",
                             "--start-date", "2024-09-02", "--end-date", "2024-09-15"],
                            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"settings: {project / '.dlt'} (dlt telemetry off)" in result.stdout
    # batch_days = 7 from that folder's config: two weeks are two batches
    assert "batch 2: school 101 2024-09-09..2024-09-15" in result.stdout


def _users_dlt_folder() -> Path:
    """dlt's own default data folder for this user (`~/.dlt`, or `/var/dlt` for root)."""
    code = "import dlt; print(dlt.current.run_context().global_dir)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLT_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def test_tests_keep_out_of_the_users_dlt_folder(sim, tmp_path):
    """The CLI helper gives every run its own dlt data folder: the user's own never sees the test."""
    name = f"cli_guard_{uuid.uuid4().hex[:8]}"
    result = run_cli(["--pipeline-name", name, "--start-date", "2024-09-02", "--end-date", "2024-09-06"],
                     tmp_path, sim_env(sim))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (_users_dlt_folder() / "pipelines" / name).exists()
    assert list(tmp_path.rglob(name)), "the pipeline's working folder should be in the test's folder"


def test_json_logs_give_a_json_summary(sim, tmp_path):
    result = run_cli(["--json-logs", "--start-date", "2024-09-02", "--end-date", "2024-09-06"], tmp_path,
                     sim_env(sim))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    summary = json.loads(lines[-1])
    assert summary["event"] == "sync_summary" and summary["exit_code"] == 0
    assert summary["rows"]["attendance_records"] > 0
    assert summary["requests"] > 0 and summary["errors_by_class"] == {}


def test_a_school_with_nothing_to_read_is_up_to_date(sim, tmp_path):
    """Every month locked after a full load: nothing to re-read, said as such, never an inverted window."""
    first = run_cli([], tmp_path, sim_env(sim))
    assert first.returncode == 0, first.stderr
    for school in sim.school_codes():
        for month in sorted({day["AttendanceMonth"] for day in sim.truth_calendar(school)}):
            sim.lock_month(school, month)
    # the month locked since the last sync is read once more; after that nothing is left
    assert run_cli([], tmp_path, sim_env(sim)).returncode == 0
    for args in (["--dry-run"], []):
        result = run_cli(args, tmp_path, sim_env(sim))
        assert result.returncode == 0, result.stderr
        school_lines = [line for line in result.stdout.splitlines() if line.lstrip().startswith("school ")]
        assert len(school_lines) >= len(sim.school_codes()), result.stdout
        for line in school_lines:
            assert "up to date" in line, line
            assert "re-read" not in line and "batches" not in line, line


def test_duckdb_file_named_like_the_dataset_is_refused(sim, tmp_path):
    result = run_cli(["--duckdb-path", str(tmp_path / "x.duckdb"), "--dataset-name", "x"], tmp_path, sim_env(sim))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "same name" in lines[0]
    assert not (tmp_path / "x.duckdb").exists()
