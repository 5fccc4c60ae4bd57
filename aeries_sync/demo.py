"""The offline demo: the simulator's synthetic district synced into a local DuckDB file."""

import argparse
import os
from pathlib import Path
from typing import Any

DEMO_DIR = Path("demo_output")


def start_demo(args: argparse.Namespace) -> Any:
    """Start the simulator on 127.0.0.1, point the source at it and the flags at the demo's files.

    Returns:
        The running simulator (stop it when the sync is over).
    """
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
    return simulator
