"""python -m aeries_simulator: first line, serving, clean shutdown, --help."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "aeries_simulator", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_serves_and_stops_cleanly() -> None:
    proc = _run("--port", "0", "--certificate", "CLI0TEST0CERTIFICATE000000000001", "--seed", "1",
                "--schools", "3", "--students-per-school", "20")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        found = re.match(r"Aeries simulator \(synthetic data\) serving (http://127\.0\.0\.1:\d+) "
                         r"certificate=(\S+)$", first.strip())
        assert found, first
        base, cert = found.groups()
        assert cert == "CLI0TEST0CERTIFICATE000000000001"
        assert requests.get(base + "/api/v5/systeminfo", timeout=5).json()["DatabaseYear"] == "2024-2025"
        schools = requests.get(base + "/api/v5/schools", headers={"AERIES-CERT": cert}, timeout=5).json()
        assert [s["SchoolCode"] for s in schools] == [0, 101, 102, 103, 999]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_cli_terminate() -> None:
    proc = _run("--admin", "--today", "2024-10-15", "--latency-ms", "10")
    try:
        assert proc.stdout is not None
        assert "serving http://127.0.0.1:" in proc.stdout.readline()
        proc.terminate()
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


def test_help_explains_every_option() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "aeries_simulator", "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    for option in ("--port", "--certificate", "--seed", "--schools", "--students-per-school", "--start-date",
                   "--end-date", "--today", "--admin", "--latency-ms", "--fault-rate"):
        assert option in out
    assert "synthetic" in out


def test_cli_rejects_bad_input() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "aeries_simulator", "--today", "June"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr


def test_cli_runs_from_any_folder(tmp_path: Path) -> None:
    """Once the requirements are installed, `python -m aeries_simulator` needs no PYTHONPATH or repo cwd."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "aeries_simulator", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "synthetic" in done.stdout.lower()
