"""A destination that cannot be reached or cannot fit a load: the cause in one line, the password masked."""

import dataclasses
import os
import socket
from datetime import date
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from reliability_helpers import _raw_host
from sync_truth import assert_attendance_matches, assert_small_tables_match
from test_cli import run_cli, sim_env

from aeries_sync.runner import EXIT_OK, EXIT_PARTIAL, run_sync

PASSWORD = "S3cret-pw-for-tests"
YEAR_START = date(2024, 8, 15)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def password_role(postgres_url: str) -> str:
    """A role that must give its password over the pgserver socket (pg_hba scram for it alone)."""
    if os.environ.get("DESTINATION__POSTGRES__CREDENTIALS"):
        pytest.skip("needs the pgserver started by the tests (its pg_hba.conf is changed)")
    socket_dir = _raw_host(postgres_url)
    hba = Path(socket_dir) / "pg_hba.conf"
    line = "local all aeries_pw_role scram-sha-256\n"
    if line not in hba.read_text():
        hba.write_text(line + hba.read_text())
    conn = psycopg2.connect(host=socket_dir, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = 'aeries_pw_role'")
        if not cur.fetchone():
            cur.execute(f"CREATE ROLE aeries_pw_role LOGIN PASSWORD '{PASSWORD}'")
        cur.execute("SELECT pg_reload_conf()")
    conn.close()
    return f"postgresql://aeries_pw_role:wrong{PASSWORD}@{quote(socket_dir, safe='')}:5432/postgres"


def test_wrong_password_says_so(sim, tmp_path, password_role):
    result = run_cli(["--destination", "postgres"], tmp_path,
                     {**sim_env(sim), "DESTINATION__POSTGRES__CREDENTIALS": password_role})
    assert result.returncode == 4, result.stdout + result.stderr
    line = _one_error_line(result.stderr)
    assert "could not be reached" in line
    assert 'password authentication failed for user "aeries_pw_role"' in line
    assert PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("host, cause", [
    pytest.param("closed-port", ("Connection refused", "127.0.0.1"), id="closed-port"),
    pytest.param("no-such-db-host.invalid:5432", ("could not translate host name", "no-such-db-host.invalid"),
                 id="unknown-host"),
])
def test_unreachable_database_gives_the_drivers_cause_and_masks_the_password(sim, tmp_path, host, cause):
    address = f"127.0.0.1:{_closed_port()}" if host == "closed-port" else host
    url = f"postgresql://postgres:{PASSWORD}@{address}/postgres"
    result = run_cli(["--destination", "postgres"], tmp_path,
                     {**sim_env(sim), "DESTINATION__POSTGRES__CREDENTIALS": url})
    assert result.returncode == 4, result.stdout + result.stderr
    line = _one_error_line(result.stderr)
    assert all(part in line for part in cause), line
    assert PASSWORD not in result.stdout + result.stderr


def test_socket_url_without_password_is_accepted(sim, tmp_path, postgres_url):
    """`postgresql://postgres:@/postgres?host=/socket/dir`, as pgserver hands it out, loads."""
    if os.environ.get("DESTINATION__POSTGRES__CREDENTIALS"):
        pytest.skip("needs the pgserver started by the tests (a socket URL)")
    url = f"postgresql://postgres:@/postgres?host={_raw_host(postgres_url)}"
    result = run_cli(["--destination", "postgres", "--dataset-name", "socket_url_test",
                      "--start-date", "2024-09-02", "--end-date", "2024-09-06"], tmp_path,
                     {**sim_env(sim), "DESTINATION__POSTGRES__CREDENTIALS": url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "attendance_records" in result.stdout


def test_classified_by_type_not_by_words():
    """A message that merely mentions a refused connection is not taken for an unreachable database."""
    from aeries_sync.failure_causes import EXIT_CRITICAL, EXIT_PARTIAL, classify_failure

    code, _, message = classify_failure(RuntimeError("Connection refused by policy"))
    assert code == EXIT_PARTIAL and message.startswith("RuntimeError")
    try:
        psycopg2.connect(host="127.0.0.1", port=_closed_port(), user="u", password="pw", dbname="d")
    except psycopg2.OperationalError as exc:
        wrapped = RuntimeError("load failed")
        wrapped.__cause__ = exc
        code, _, message = classify_failure(wrapped)
        assert code == EXIT_CRITICAL and "Connection refused" in message


def test_duckdb_out_of_memory_says_which_setting_to_raise_and_the_rerun_with_it_finishes(sim, make_options):
    """dlt retries a load job DuckDB could not fit in its memory_limit, but the same limit fails it again."""
    options = make_options(sim, "duckdb", duckdb_memory_limit="2MB")
    starved = run_sync(options)
    assert starved.exit_code == EXIT_PARTIAL
    assert "duckdb_memory_limit" in starved.message and "the next run finishes it" not in starved.message

    rerun = run_sync(dataclasses.replace(options, duckdb_memory_limit="100MB"))

    assert rerun.exit_code == EXIT_OK, rerun.message
    assert_attendance_matches(sim, options, YEAR_START, sim.today)
    assert_small_tables_match(sim, options)
