"""Bad input: every bad flag or config value exits 2 and leaves the Postgres database untouched.

`tests/test_cli.py` checks a few bad flags against DuckDB (no file written). This adds the flags and
`[sources.aeries]` values it does not cover, against Postgres: exit 2, one `error:` line, no traceback,
and no schema of the dataset (nor of dlt's default dataset) in `information_schema.schemata`.
"""

import uuid
from datetime import date
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from reliability_helpers import cli_env, run_cli, schema_exists

from aeries_simulator import AeriesSimulator, DistrictSpec

SPEC = DistrictSpec(seed=30, schools=2, students_per_school=10, today=date(2024, 9, 10))


CASES = [
    # flags
    pytest.param(["--start-date", "2024-13-01"], {}, id="flag-malformed-date"),
    pytest.param(["--start-date", "2024-10-10", "--end-date", "2024-10-01"], {}, id="flag-end-before-start"),
    pytest.param(["--rows-per-item", "abc"], {}, id="flag-batch-size-not-a-number"),
    pytest.param(["--batch-days", "0"], {}, id="flag-zero-chunk"),
    pytest.param(["--resume-from-batch", "-1"], {}, id="flag-negative-resume"),
    pytest.param(["--lookback-days", "-1"], {}, id="flag-negative-lookback"),
    pytest.param(["--destination", "mysql"], {}, id="flag-unknown-destination"),
    pytest.param(["--school-code", "abc"], {}, id="flag-school-code-not-a-number"),
    pytest.param(["--school-code", "101", "--school-code", "555"], {}, id="flag-unknown-school"),
    pytest.param(["--no-such-flag"], {}, id="flag-unknown"),
    # [sources.aeries] values (as environment variables)
    pytest.param([], {"SOURCES__AERIES__BATCH_DAYS": "0"}, id="config-zero-batch-days"),
    pytest.param([], {"SOURCES__AERIES__BATCH_DAYS": "weekly"}, id="config-batch-days-not-a-number"),
    pytest.param([], {"SOURCES__AERIES__ROWS_PER_ITEM": "-5"}, id="config-negative-rows-per-item"),
    pytest.param([], {"SYNC__CHECKPOINT_EVERY": "0"}, id="config-zero-checkpoint"),
    pytest.param([], {"SYNC__DUCKDB_MEMORY_LIMIT": "lots"}, id="config-duckdb-memory-limit-not-a-size"),
    pytest.param([], {"SOURCES__AERIES__LOOKBACK_DAYS": "-1"}, id="config-negative-lookback"),
    pytest.param([], {"SOURCES__AERIES__START_DATE": "2024-02-30"}, id="config-impossible-date"),
    pytest.param([], {"SOURCES__AERIES__START_DATE": "2024-10-10", "SOURCES__AERIES__END_DATE": "2024-10-01"},
                 id="config-end-before-start"),
    pytest.param([], {"SOURCES__AERIES__SCHOOL_YEAR_START": "2025-01-01",
                      "SOURCES__AERIES__SCHOOL_YEAR_END": "2024-12-01"}, id="config-year-ends-before-it-starts"),
    pytest.param([], {"SOURCES__AERIES__SCHOOL_CODES": "101,abc"}, id="config-school-codes-not-numbers"),
    pytest.param([], {"SOURCES__AERIES__DATABASE_YEAR": "abc"}, id="config-year-not-a-number"),
    pytest.param([], {"SOURCES__AERIES__DATABASE_YEAR": "2019"}, id="config-year-not-offered"),
    pytest.param([], {"SOURCES__AERIES__BASE_URL": "127.0.0.1/aeries"}, id="config-url-without-scheme"),
    pytest.param([], {"SOURCES__AERIES__REQUEST_TIMEOUT": "soon"}, id="config-timeout-not-a-number"),
    pytest.param([], {"SOURCES__AERIES__REQUEST_TIMEOUT": "0"}, id="config-zero-timeout"),
    pytest.param([], {"SOURCES__AERIES__REQUEST_MAX_ATTEMPTS": "0"}, id="config-zero-attempts"),
    pytest.param([], {"DESTINATION__POSTGRES__CREDENTIALS": None}, id="config-no-postgres-credentials"),
    pytest.param(["--dataset-name", ""], {}, id="flag-empty-dataset-name"),
]


@pytest.fixture(scope="module")
def small_district() -> Iterator[AeriesSimulator]:
    """One simulator for every case: a bad input never reaches attendance."""
    sim = AeriesSimulator(SPEC).start(host="127.0.0.1", port=0)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.mark.parametrize("args, env_extra", CASES)
def test_bad_input_exits_2_and_leaves_postgres_untouched(small_district: AeriesSimulator, postgres_url: str,
                                                         tmp_path: Path, args: List[str],
                                                         env_extra: Dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:8]
    dataset, pipeline = f"bad_{tag}", f"bad_input_{tag}"
    env = cli_env(small_district, postgres_url, tmp_path / "dlt_data")
    for key, value in env_extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    base = ["--destination", "postgres", "--pipeline-name", pipeline]
    if "--dataset-name" not in args:
        base += ["--dataset-name", dataset]
    if "--destination" in args:
        base = base[2:]
    result = run_cli([*base, *args], tmp_path, env, timeout=60)
    output = result.stdout + result.stderr

    assert result.returncode == 2, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors and errors[-1].startswith("error:"), result.stderr
    assert not schema_exists(postgres_url, dataset), f"schema {dataset} was created"
    assert not schema_exists(postgres_url, f"{pipeline}_dataset"), f"schema {pipeline}_dataset was created"
