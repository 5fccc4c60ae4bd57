"""The command as a user runs it: demo, dry run, bad input and critical errors, as subprocesses."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "pipelines" / "attendance.py"


def run_cli(args: List[str], cwd: Path, env: Optional[Dict[str, str]] = None, timeout: int = 180):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    full_env.update({"RUNTIME__REQUEST_BACKOFF_FACTOR": "0", "SOURCES__AERIES__REQUEST_BACKOFF_FACTOR": "0",
                     "SOURCES__AERIES__REQUEST_MAX_ATTEMPTS": "2"})
    # The project's settings (a copy in the scratch folder) and a dlt data folder of the test's own:
    # nothing lands in the repo or in the user's ~/.dlt.
    full_env.update({"DLT_PROJECT_DIR": str(cwd), "DLT_DATA_DIR": str(cwd / "dlt_data")})
    full_env.update(env or {})
    (cwd / ".dlt").mkdir(exist_ok=True)
    (cwd / ".dlt" / "config.toml").write_text((ROOT / ".dlt" / "config.toml").read_text())
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def sim_env(sim, certificate: Optional[str] = None) -> Dict[str, str]:
    return {"SOURCES__AERIES__BASE_URL": sim.base_url,
            "SOURCES__AERIES__CERTIFICATE": certificate or sim.certificate}


def test_demo_runs_offline_and_prints_a_summary(tmp_path):
    result = run_cli(["--demo"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Aeries sync done (exit 0)" in result.stdout
    assert "rows loaded:" in result.stdout and "attendance_records" in result.stdout
    assert "requests:" in result.stdout and "errors by class: none" in result.stdout
    assert (tmp_path / "demo_output" / "aeries_demo.duckdb").exists()
    assert "Traceback" not in result.stderr


def test_no_configuration_says_how_to_fix_it(tmp_path):
    result = run_cli([], tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--demo" in lines[0] and "SOURCES__AERIES__BASE_URL" in lines[0]


@pytest.mark.parametrize(
    "args, env_extra, needle",
    [
        pytest.param(["--start-date", "2024-13-01"], {}, "not a date", id="malformed-date"),
        pytest.param(["--start-date", "2025-01-10", "--end-date", "2025-01-01"], {}, "before", id="end-before-start"),
        pytest.param(["--rows-per-item", "0"], {}, "greater than zero", id="zero-batch"),
        pytest.param(["--batch-days", "-3"], {}, "greater than zero", id="negative-chunk"),
        pytest.param(["--school-code", "555"], {}, "555", id="unknown-school"),
        pytest.param([], {"SOURCES__AERIES__DATABASE_YEAR": "2019"}, "2019", id="year-not-offered"),
        pytest.param([], {"SOURCES__AERIES__BASE_URL": "aeries.example.org/admin"}, "https://", id="no-scheme"),
    ],
)
def test_bad_input_exits_2_in_one_line_and_writes_nothing(sim, tmp_path, args, env_extra, needle):
    env = {**sim_env(sim), **env_extra}
    result = run_cli([*args, "--duckdb-path", str(tmp_path / "out.duckdb")], tmp_path, env)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert not (tmp_path / "out.duckdb").exists()
    assert "Traceback" not in result.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(sim, tmp_path):
    result = run_cli(["--dry-run", "--batch-days", "7", "--duckdb-path", str(tmp_path / "out.duckdb")],
                     tmp_path, sim_env(sim))
    assert result.returncode == 0, result.stderr
    assert "batch 1: school 101" in result.stdout
    assert "estimated requests" in result.stdout
    assert not (tmp_path / "out.duckdb").exists()
    # the plan is stable: the same dry run gives the same batches
    again = run_cli(["--dry-run", "--batch-days", "7", "--duckdb-path", str(tmp_path / "out.duckdb")],
                    tmp_path, sim_env(sim))
    assert [line for line in again.stdout.splitlines() if "batch " in line] == [
        line for line in result.stdout.splitlines() if "batch " in line]


def test_wrong_certificate_stops_with_exit_4(sim, tmp_path):
    result = run_cli(["--duckdb-path", str(tmp_path / "out.duckdb")], tmp_path,
                     sim_env(sim, certificate="WRONG0CERTIFICATE000000000000000"))
    assert result.returncode == 4, result.stdout + result.stderr
    assert "certificate" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "certificate" in errors[0], result.stderr
    # the 401 was a request, and an error of class auth
    assert "requests: 0" not in result.stdout and "errors by class: none" not in result.stdout
    assert "auth 1" in result.stdout
    assert "WRONG0CERTIFICATE" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_connection_refused_stops_with_exit_4(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"SOURCES__AERIES__BASE_URL": f"http://127.0.0.1:{port}",
           "SOURCES__AERIES__CERTIFICATE": "SIMULATOR0CERTIFICATE00000000001"}
    result = run_cli([], tmp_path, env)
    assert result.returncode == 4
    assert "refused" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "refused" in errors[0], result.stderr
