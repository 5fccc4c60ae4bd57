"""The tweaks the command applies: results unchanged, work done once, Arrow's pool chosen before pyarrow loads."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Optional

import pytest
from dlt.common import validation
from dlt.common.schema.typing import TTableSchema
from dlt.common.schema.utils import new_column, new_table

from aeries_sync.tuning import cache_schema_type_hints

COMMAND = Path(__file__).resolve().parents[2] / "pipelines" / "attendance.py"


def test_schema_type_hints_are_evaluated_once_and_validation_still_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    evaluated: List[Any] = []
    original = validation.get_type_hints

    def counting(spec: Any, *args: Any, **kwargs: Any) -> Any:
        evaluated.append(spec)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(validation, "get_type_hints", counting)  # restored after the test
    cache_schema_type_hints()
    cache_schema_type_hints()  # a second call does not wrap twice
    table = new_table("attendance_records", columns=[new_column("school_code", "bigint", nullable=False)])
    for _ in range(3):
        validation.validate_dict(TTableSchema, table, "table")
    assert evaluated.count(TTableSchema) == 1
    assert len(evaluated) == len(set(map(id, evaluated)))  # each TypedDict evaluated once
    with pytest.raises(validation.DictValidationException):
        validation.validate_dict(TTableSchema, {**table, "write_disposition": 5}, "table")
    with pytest.raises(validation.DictValidationException):
        validation.validate_dict(TTableSchema, {**table, "not_a_table_hint": True}, "table")


def _arrow_pool_of_the_command(env_pool: Optional[str]) -> str:
    """The backend of Arrow's C++ default pool in a process that loaded the command as it starts."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    script = (
        "import runpy, sys\n"
        f"runpy.run_path({str(COMMAND)!r}, run_name='not_main')\n"
        "import pyarrow as pa\n"
        "print(pa.default_memory_pool().backend_name)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_command_puts_arrows_own_default_pool_on_the_system_allocator() -> None:
    assert _arrow_pool_of_the_command(None) == "system"


def test_a_pool_the_environment_names_is_kept() -> None:
    assert _arrow_pool_of_the_command("mimalloc") == "mimalloc"
