"""Benchmark: our sync side by side with the simulator alone and a plain dlt `rest_api` peer (issue 13).

One invocation, one simulator district (a subprocess), three measurements:
1. the simulator alone: its serving rate of a full year of attendance in 30-day windows, 4 clients
   (`simulator_serving.serve_full_year`);
2. our sync: `run_sync` in the sync worker process (`sync_common.run_worker`), so its peak RSS is its own,
   as shipped (`[sync] checkpoint_seconds`, a checkpoint every 10 s of reading) and alternated with
   the same sync in one checkpoint (`checkpoint_seconds` 0: one extract, one load, as one pipeline
   run); `checkpoint_overhead` = as shipped / one run - 1;
3. the peer (`benchmarks/peers/aeries_rest_api.py`): a dlt `rest_api_source` written from dlt's docs,
   in its own process, into the same destination kind (its own DuckDB file / Postgres schema); the
   attendance records it loaded are the rows of its unnested `*__attendance_days` tables.
With `--latency-ms N` our sync runs once more, before the peer, against a second simulator with N ms
per response; `latency_added_s` = that run's wall time minus the sync's as shipped in the same round
(`latency_added_sync_s`: the same without the attendance measures after the sync, which make no request).

`--repeat N` runs 1, 2 and the latency run N times, in rounds, and the peer once. Within a round the
sync as shipped runs between the two runs it is compared with, and their order flips every round. The machine's speed
drifts by a quarter between minutes here, so each ratio is taken within a round (the sync against the
simulator-alone run just before it, the latency run against the sync of its round) and the median of
the rounds is reported; every round's figures are in the JSON (`rounds`). With `--peer-each-round`
the peer runs at the end of every round and `ratio_to_peer` is the median of the rounds' ratios as
well (Postgres: on DuckDB the peer is stopped at 8 GiB, which leaves the machine slow for the next round).

    python benchmarks/sync_vs_peers.py --destination postgres                       # large district
    python benchmarks/sync_vs_peers.py --destination postgres --latency-ms 100
    python benchmarks/sync_vs_peers.py --schools 2 --students-per-school 100 --destination duckdb \\
        --json-out /tmp/x.json                                                       # smoke check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator_serving import district_layout, serve_full_year, year_bounds  # noqa: E402
from sync_common import (  # noqa: E402
    ROOT,
    RssSampler,
    SimulatorProcess,
    add_size_args,
    drop_dataset,
    mib,
    postgres,
    postmaster_pid,
    print_table,
    process_cpu_seconds,
    run_worker,
    workdir,
    worker_options,
)

PEER = Path(__file__).resolve().parent / "peers" / "aeries_rest_api.py"


def run_peer(cfg: Dict[str, Any], sample_interval: float = 0.05, kill_above_gib: float = 8.0) -> Dict[str, Any]:
    """Run the rest_api peer in its own process; its RESULT dict plus wall time and polled peak RSS.

    A peer that holds more than `kill_above_gib` is stopped and reported as failed (dlt's default
    insert_values load into DuckDB took 15 GiB for the large district and ran the machine out of
    memory with twice the students).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(PEER), json.dumps(cfg)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with RssSampler(proc.pid, sample_interval, kill_above=int(kill_above_gib * 2**30)) as sampler:
        out, err = proc.communicate()
    wall = time.perf_counter() - started
    result = None
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if result is None:
        why = (f"stopped after {wall:.0f} s above {kill_above_gib:g} GiB RSS" if sampler.killed
               else f"exit {proc.returncode}")
        print(f"rest_api peer failed ({why}):\n{err[-2000:]}", file=sys.stderr)
        return {"failed": why, "attendance_records": 0, "seconds": wall, "process_wall_seconds": wall,
                "peak_rss": sampler.peak, "sampled_peak_rss": sampler.peak, "has_failed_jobs": True,
                "table_counts": {}}
    result["process_wall_seconds"] = wall
    result["sampled_peak_rss"] = sampler.peak
    return result


def lower_middle(items: List[Dict[str, Any]], key: str) -> Dict[str, Any]:
    """The item whose `key` is the median (the lower middle of an even count)."""
    return sorted(items, key=lambda item: item[key])[(len(items) - 1) // 2]


def median_run(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The run of median duration, with the highest peak RSS of all."""
    chosen = dict(lower_middle(runs, "seconds"))
    chosen["peak_rss"] = max(r["peak_rss"] for r in runs)
    return chosen


def median(values: List[Optional[float]]) -> Optional[float]:
    """The median of the known `values` (the mean of the two middle ones of an even count), to 3 places."""
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def _ratio(a: float, b: float) -> Optional[float]:
    return a / b if b else None  # a run that failed before it started has no seconds


def _rounded(value: Optional[float]) -> Optional[float]:
    return round(value, 2) if value is not None else None


def round_figures(r: Dict[str, Any]) -> Dict[str, Any]:
    """One round's figures: each ratio taken within the round."""
    rate = r["shipped"]["records_per_second"]
    to_simulator = _ratio(rate, r["serving"]["records_per_s"])
    slower = _ratio(r["shipped"]["seconds"], r["single"]["seconds"])
    figures = {
        "simulator_records_per_s": round(r["serving"]["records_per_s"], 1),
        "seconds": round(r["shipped"]["seconds"], 3), "records_per_s": round(rate, 1),
        # the shipped sync's checkpoints in this round, beside the latency run's (below)
        "pipeline_runs": r["shipped"]["pipeline_runs"],
        "one_run_seconds": round(r["single"]["seconds"], 3),
        "peak_rss_mib": round(mib(r["shipped"]["peak_rss"]), 1),
        "ratio_to_simulator": round(to_simulator, 3) if to_simulator is not None else None,
        "checkpoint_overhead": round(slower - 1, 3) if slower is not None else None,
    }
    if "peer" in r:  # --peer-each-round: the peer of this round
        figures["peer_records_per_s"] = round(r["peer_rate"], 1)
        figures["ratio_to_peer"] = round(rate / r["peer_rate"], 2) if r["peer_rate"] else None
    if "latency" in r:
        figures["latency_added_s"] = round(r["latency"]["wall_seconds"] - r["shipped"]["wall_seconds"], 3)
        # The same without the measures, which make no request and take seconds (their time
        # drifts with the machine as much as the rest).
        figures["latency_added_sync_s"] = round(r["latency"]["seconds"] - r["shipped"]["seconds"], 3)
        # one checkpoint more or less (the slower reads pass `checkpoint_seconds`) moves it by seconds
        figures["latency_pipeline_runs"] = r["latency"]["pipeline_runs"]
    return figures


def main() -> int:
    """Run the benchmark, print its figures, optionally write them as JSON."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(p)
    p.add_argument("--destination", choices=("duckdb", "postgres"), default="postgres")
    p.add_argument("--latency-ms", type=int, default=0,
                   help="also run our sync against a simulator with this latency per response (0: skip)")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients of the simulator-alone run")
    p.add_argument("--window-days", type=int, default=30,
                   help="days per request of the simulator-alone run and of the peer")
    p.add_argument("--json-out", type=Path, default=None, help="write the figures as JSON to this path")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs of our sync as shipped and in one pipeline run, alternated (medians reported)")
    p.add_argument("--peer-each-round", action="store_true",
                   help="run the peer at the end of every round, not once after them: its ratio is taken "
                        "within the round, as the others (Postgres; on DuckDB the peer is stopped at 8 GiB "
                        "and leaves the machine slow for the next round)")
    args = p.parse_args()
    dest = args.destination

    sim = SimulatorProcess(args.schools, args.students_per_school, seed=args.seed)
    lat_sim: Optional[SimulatorProcess] = None
    try:
        base = sim.base_url + "/api/v5"
        schools, calendar, _ = district_layout(base, sim.certificate)
        first, last = year_bounds(calendar)

        def simulator_alone() -> Dict[str, Any]:
            served = serve_full_year(base, sim.certificate, sim.pid, schools, calendar, args.clients,
                                     args.window_days)
            print(f"simulator alone: {served['records']:,} records in {served['seconds']:.2f} s "
                  f"({served['records_per_s']:,.0f}/s, {served['requests']} requests)", flush=True)
            return served

        with workdir(args.keep, "sync_vs_peers_") as tmp, \
                (postgres(tmp) if dest == "postgres" else nullcontext()) as pg:
            url: Optional[str] = pg[0] if pg else None
            if pg:
                print(f"postgres: {pg[1]}", flush=True)
            datasets: List[str] = []

            # None with an external server (no postmaster.pid here): its CPU is not counted
            pg_pid = postmaster_pid(tmp / "pgdata") if pg else None

            def ours(server: SimulatorProcess, name: str, **extra: Any) -> Dict[str, Any]:
                dataset = f"bench_{uuid.uuid4().hex[:8]}"
                datasets.append(dataset)
                opts = worker_options(server.base_url, sim.certificate, dest, tmp / name, dataset=dataset,
                                      pipeline_name=name, postgres_credentials=url, **extra)
                others = [server.pid, pg_pid]
                before = [process_cpu_seconds(pid) for pid in others]
                r = run_worker(opts)
                after = [process_cpu_seconds(pid) for pid in others]
                # what the simulator and the database spent meanwhile (the sync's own: cpu_seconds)
                r["simulator_cpu_seconds"], r["postgres_cpu_seconds"] = (
                    b - a if a is not None and b is not None else None for a, b in zip(before, after, strict=True))
                print(f"{name}: {r['status']} (exit {r['exit_code']}), {r['attendance_records']:,} records in "
                      f"{r['seconds']:.2f} s, {r['requests']} requests {r['message']}".rstrip(), flush=True)
                if r["exit_code"] != 0:
                    print(r["stderr_tail"], file=sys.stderr)
                return r

            def the_peer(records: int, suffix: str = "") -> Tuple[Dict[str, Any], float]:
                """4. the rest_api peer: its result and records/s (an upper bound when it was stopped)."""
                peer_dataset = f"peer_{uuid.uuid4().hex[:8]}"
                (tmp / f"peer{suffix}").mkdir(parents=True, exist_ok=True)
                datasets.append(peer_dataset)
                peer = run_peer({
                    "base_url": sim.base_url, "certificate": sim.certificate, "schools": schools,
                    "start": first.isoformat(), "end": last.isoformat(), "window_days": args.window_days,
                    "destination": dest, "dataset": peer_dataset, "pipeline_name": f"peer_rest_api_{dest}",
                    "pipelines_dir": str(tmp / f"peer{suffix}" / "pipelines"),
                    "duckdb_path": str(tmp / f"peer{suffix}" / "peer_rest_api.duckdb"), "postgres_credentials": url,
                })
                rate = peer["attendance_records"] / peer["seconds"] if peer["seconds"] else 0.0
                if peer.get("failed"):
                    # it never finished: at best it would have been as fast as when it was stopped
                    rate = records / peer["seconds"]
                    print(f"rest_api peer FAILED ({peer['failed']}); records/s taken as at most "
                          f"{rate:,.0f} (all records in the time it ran)", flush=True)
                else:
                    print(f"rest_api peer: {peer['attendance_records']:,} records in {peer['seconds']:.2f} s "
                          f"({rate:,.0f}/s){' FAILED JOBS' if peer['has_failed_jobs'] else ''}", flush=True)
                return peer, rate

            try:
                if args.latency_ms:
                    lat_sim = SimulatorProcess(args.schools, args.students_per_school, seed=args.seed,
                                               extra_args=["--latency-ms", str(args.latency_ms)])
                rounds: List[Dict[str, Any]] = []
                for i in range(args.repeat):
                    # 1. the simulator alone; 2. our sync as shipped, and the same sync in one
                    # pipeline run (no checkpoint before the end), each into a fresh dataset: the
                    # checkpoints' cost; 3. our sync against a second simulator of the same district
                    # with latency. All before the peer, which on DuckDB is stopped at 8 GiB and left
                    # the machine slow for a while (a latency run after it was 9.5 s slower).
                    # The sync as shipped runs in the middle of its round, next to both runs it is
                    # compared with, and the order flips every round (one checkpoint, shipped,
                    # latency; then latency, shipped, one checkpoint): a machine slowing down or
                    # speeding up within a round moves both differences less, and in turn both ways.
                    this: Dict[str, Any] = {"serving": simulator_alone()}
                    order = [("single", sim, f"ours_{dest}_one_run_{i}", {"checkpoint_every": None,
                                                                          "checkpoint_seconds": 0}),
                             ("shipped", sim, f"ours_{dest}_{i}", {})]
                    if lat_sim is not None:
                        order.append(("latency", lat_sim, f"ours_{dest}_latency_{i}", {}))
                    for key, server, name, extra in (order if i % 2 == 0 else order[::-1]):
                        this[key] = ours(server, name, **extra)
                    if args.peer_each_round:
                        this["peer"], this["peer_rate"] = the_peer(this["shipped"]["attendance_records"], f"_{i}")
                    rounds.append(this)
                serving = lower_middle([r["serving"] for r in rounds], "records_per_s")
                sync = median_run([r["shipped"] for r in rounds])
                single = median_run([r["single"] for r in rounds])
                lat = median_run([r["latency"] for r in rounds]) if lat_sim is not None else None

                if args.peer_each_round:
                    peer_rounds = sorted(rounds, key=lambda r: r["shipped"]["records_per_second"] / r["peer_rate"]
                                         if r["peer_rate"] else 0.0)
                    middle = peer_rounds[(len(peer_rounds) - 1) // 2]  # the lower middle, as the serving run
                    peer, peer_rate = middle["peer"], middle["peer_rate"]
                else:
                    peer, peer_rate = the_peer(sync["attendance_records"])
            finally:
                if url and not args.keep:
                    for dataset in datasets:
                        drop_dataset(url, dataset)
    finally:
        sim.stop()
        if lat_sim is not None:
            lat_sim.stop()

    sim_rate = serving["records_per_s"]
    sync_rate = sync["records_per_second"]
    per_round = [round_figures(r) for r in rounds]
    overhead = median([r["checkpoint_overhead"] for r in per_round])
    figures: Dict[str, Any] = {
        "destination": dest, "schools": args.schools, "students_per_school": args.students_per_school,
        "attendance_records": sync["attendance_records"], "seconds": round(sync["seconds"], 3),
        "records_per_s": round(sync_rate, 1), "simulator_records_per_s": round(sim_rate, 1),
        "peer_records_per_s": round(peer_rate, 1), "peak_rss_mib": round(mib(sync["peak_rss"]), 1),
        "requests": sync["requests"],
        "sync_status": sync["status"], "sync_wall_seconds": round(sync["wall_seconds"], 3),
        "sync_pipeline_runs": sync["pipeline_runs"],
        "measures_seconds": round(sync["measures_seconds"], 3), "measures_error": sync["measures_error"],
        "sync_peak_rss_polled_mib": round(mib(sync["sampled_peak_rss"]), 1),
        "simulator_records": serving["records"], "simulator_seconds": round(serving["seconds"], 3),
        "simulator_requests": serving["requests"], "simulator_cpu_s": round(serving["cpu"], 2),
        # Where the machine's time went during the median sync (wall_seconds includes the measures)
        "cpu": {"cores": os.cpu_count(), "sync_wall_s": round(sync["wall_seconds"], 2),
                "sync_s": round(sync["cpu_seconds"], 2), "simulator_s": _rounded(sync["simulator_cpu_seconds"]),
                "postgres_s": _rounded(sync["postgres_cpu_seconds"])},
        "peer_attendance_records": peer["attendance_records"], "peer_seconds": round(peer["seconds"], 3),
        "peer_requests": serving["requests"],  # the same schools x windows as the simulator-alone run
        "peer_peak_rss_mib": round(mib(peer["peak_rss"]), 1), "peer_table_counts": peer["table_counts"],
        "peer_failed": peer.get("failed"),
        "checkpoint_overhead": {dest: overhead},
        "one_run_pipeline_runs": single["pipeline_runs"],
        "ratio_to_simulator": median([r["ratio_to_simulator"] for r in per_round]),
        "ratio_to_peer": (median([r["ratio_to_peer"] for r in per_round]) if args.peer_each_round
                          else round(sync_rate / peer_rate, 2) if peer_rate else None),
        "peer_each_round": args.peer_each_round,
        "repeat": args.repeat, "rounds": per_round,
    }
    if lat is not None:
        added = median([r["latency_added_s"] for r in per_round])
        budget = lat["requests"] * args.latency_ms / 1000 / 8
        figures.update({
            "latency_ms": args.latency_ms, "latency_added_s": added,
            "latency_added_sync_s": median([r["latency_added_sync_s"] for r in per_round]),
            "latency_requests": lat["requests"], "latency_seconds": round(lat["seconds"], 3),
            "latency_budget_s": round(budget, 3), "latency_status": lat["status"],
            "latency_pipeline_runs": lat["pipeline_runs"],
        })

    print()
    print(f"district: {args.schools} schools x {args.students_per_school} students (seed {args.seed}), "
          f"full school year {first} .. {last}; destination {dest}")
    rows: List[List[Any]] = [
        ["simulator alone", serving["records"], serving["seconds"], sim_rate, serving["requests"], "-", 1.0],
        ["our sync", sync["attendance_records"], sync["seconds"], sync_rate, sync["requests"],
         mib(sync["peak_rss"]), sync_rate / sim_rate if sim_rate else "-"],
        ["our sync, one pipeline run", single["attendance_records"], single["seconds"],
         single["records_per_second"], single["requests"], mib(single["peak_rss"]),
         single["records_per_second"] / sim_rate if sim_rate else "-"],
        ["rest_api peer", peer["attendance_records"], peer["seconds"], peer_rate, figures["peer_requests"],
         mib(peer["peak_rss"]), peer_rate / sim_rate if sim_rate else "-"],
    ]
    if lat is not None:
        rows.append([f"our sync, {args.latency_ms} ms latency", lat["attendance_records"], lat["seconds"],
                     lat["records_per_second"], lat["requests"], mib(lat["peak_rss"]),
                     lat["records_per_second"] / sim_rate if sim_rate else "-"])
    print_table(["run", "attendance records", "seconds", "records/s", "requests", "peak RSS MiB", "x simulator"],
                rows, title="Full year: simulator alone vs our sync vs a plain dlt rest_api peer")
    if args.repeat > 1:
        print_table(["round", *per_round[0]], [[i + 1, *r.values()] for i, r in enumerate(per_round)],
                    title=f"Each of {args.repeat} rounds (ratios within the round; medians below)")
    print(f"our sync vs peer: {figures['ratio_to_peer']}x records/s (target >= 5x); "
          f"vs simulator: {figures['ratio_to_simulator']} (target >= 0.5)")
    cpu = figures["cpu"]
    core_seconds = cpu["sync_wall_s"] * (cpu["cores"] or 1)
    busy = sum(v for v in (cpu["sync_s"], cpu["simulator_s"], cpu["postgres_s"]) if v is not None)
    print(f"CPU during our sync ({cpu['sync_wall_s']:.1f} s wall x {cpu['cores']} cores = {core_seconds:.1f} core-s): "
          f"sync {cpu['sync_s']:.1f} s, simulator {cpu['simulator_s']} s, postgres {cpu['postgres_s']} s, "
          f"idle or other {core_seconds - busy:.1f} core-s; the simulator alone spent {serving['cpu']:.1f} s "
          f"serving the year")
    if overhead is not None:
        print(f"checkpoint overhead ({sync['pipeline_runs']} checkpoints vs {single['pipeline_runs']}): "
              f"{overhead:.1%} (target <= 10 %)")
    if lat is not None:
        print(f"latency {args.latency_ms} ms: added {figures['latency_added_s']:.2f} s of wall time "
              f"({figures['latency_added_sync_s']:.2f} s without the measures) "
              f"(budget 1/8 x {lat['requests']} requests x {args.latency_ms} ms = {figures['latency_budget_s']:.2f} s)")
    failed_measures = [run for r in rounds for key, run in r.items()
                       if key in ("shipped", "single", "latency") and run["measures_error"]]
    print(f"attendance measures after the sync: {sync['measures_seconds']:.2f} s" if not failed_measures else
          f"attendance measures NOT refreshed in {len(failed_measures)} run(s): {failed_measures[0]['measures_error']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"JSON written to {args.json_out}")
    ok = sync["exit_code"] == 0 and (lat is None or lat["exit_code"] == 0) and not failed_measures
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
