"""The README's "Use the source in your own dlt pipeline" example runs as written, against the simulator."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Use the source in your own dlt pipeline"


def readme_example() -> str:
    """The first python block of the README's section on using the source."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_readme_example_loads_attendance(sim, tmp_path: Path) -> None:
    code = readme_example()
    assert len(code.strip().splitlines()) <= 12  # about ten lines, as the README promises
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_"))}
    env.update({"SOURCES__AERIES__BASE_URL": sim.base_url, "SOURCES__AERIES__CERTIFICATE": sim.certificate,
                "DLT_DATA_DIR": str(tmp_path / "dlt_data"), "DLT_PROJECT_DIR": str(tmp_path),
                "RUNTIME__DLTHUB_TELEMETRY": "false"})
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    count = int(re.search(r"\[\((\d+),\)\]", done.stdout).group(1))  # type: ignore[union-attr]
    expected = sum(len(sim.truth_attendance(sc, sim.spec.first_day, sim.today)) for sc in sim.school_codes())
    assert count == expected
