"""Command line for running the simulator as a standalone server (python -m aeries_simulator)."""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import threading
from datetime import date
from types import FrameType

from .faults import FaultKind
from .server import tls_server_context
from .simulator import DEFAULT_CERTIFICATE, AeriesSimulator
from .spec import DistrictSpec

_DESCRIPTION = """\
Serve an offline twin of the Aeries SIS v5 REST API for a synthetic district (every name,
address and attendance code is generated from --seed; no real student data). Listens on
127.0.0.1 only. The first output line gives the base URL and the certificate; the API lives
under BASE_URL/api/v5 (e.g. GET BASE_URL/api/v5/systeminfo needs no certificate, every other
route needs the header 'AERIES-CERT: <certificate>'). Stop with Ctrl-C.
"""

_EPILOG = """\
examples:
  python -m aeries_simulator                      # demo district on a free port
  python -m aeries_simulator --port 8765 --seed 7 --schools 20 --students-per-school 2000
  python -m aeries_simulator --admin --today 2024-10-15
      then: curl -X POST 'BASE_URL/_admin/clock/advance?days=1'
  python -m aeries_simulator --tls-cert server.pem --tls-key server.key   # HTTPS: BASE_URL is https://
      then: curl --cacert ca.pem BASE_URL/api/v5/systeminfo
admin routes (with --admin; POST unless noted):
  /_admin/clock/advance?days=&hours=&minutes=
  /_admin/attendance/set?school=&student=&date=YYYY-MM-DD&all_day=CODE&p1=CODE (empty value removes)
  /_admin/attendance/clear|excuse?school=&student=&date=
  /_admin/attendance/add-period?school=&student=&date=&period=&code=
  /_admin/attendance/clear-day?school=&date=
  /_admin/students/enroll?school=&grade=&date=      /_admin/students/withdraw?school=&student=&date=
  /_admin/calendar/lock?school=&month=
  /_admin/history/adjust?school=&student=&field=DaysAbsence&delta=2   (history summary drifts from attendance)
  /_admin/faults/add?kind=RATE_LIMIT&route=attendance&probability=0.1   /_admin/faults/clear
  GET /_admin/state     GET /_admin/truth/attendance?school=&start=&end=     GET /_admin/truth/history?school=
"""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (every option documented)."""
    p = argparse.ArgumentParser(prog="python -m aeries_simulator", description=_DESCRIPTION, epilog=_EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 (default) picks a free port")
    p.add_argument("--certificate", default=DEFAULT_CERTIFICATE,
                   help="AERIES-CERT value clients must send (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic district; same seed, same data "
                   "(default: %(default)s)")
    p.add_argument("--schools", type=int, default=3, help="number of real schools, codes 101.. "
                   "(default: %(default)s; every third is a Daily elementary school)")
    p.add_argument("--students-per-school", type=int, default=60,
                   help="students whose home school is each school (default: %(default)s)")
    p.add_argument("--school-year", type=int, default=2024,
                   help="starting year of the default DatabaseYear, 2024 = 2024-2025 (default: %(default)s)")
    p.add_argument("--start-date", type=_date, help="first school day, YYYY-MM-DD (default: Aug 15 of the year)")
    p.add_argument("--end-date", type=_date, help="last school day, YYYY-MM-DD (default: Jun 12 of next year)")
    p.add_argument("--today", type=_date, help="simulated clock date; attendance exists only up to it "
                   "(default: the day after the last school day)")
    p.add_argument("--admin", action="store_true", help="enable the /_admin/ routes listed below")
    p.add_argument("--latency-ms", type=int, default=0, help="delay every API response by this many ms")
    p.add_argument("--fault-rate", type=float, default=0.0,
                   help="probability (0-1) that an API request fails with 429, 500, 502 or 503 (seeded by --seed)")
    p.add_argument("--hang-seconds", type=float, default=30.0, help="how long a HANG fault holds a request")
    p.add_argument("--include-empty-students", action="store_true",
                   help="school-wide attendance also lists enrolled students with AttendanceDays: []")
    p.add_argument("--attendance-404-when-empty", action="store_true",
                   help="school-wide attendance answers 404 instead of [] when nothing matches")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this PEM server certificate (chain); "
                   "clients must trust its CA (default: plain HTTP)")
    p.add_argument("--tls-key", metavar="PEM",
                   help="PEM private key of --tls-cert (default: the key inside --tls-cert)")
    p.add_argument("--verbose", "-v", action="store_true", help="log every request to stderr")
    return p


def _tls_context(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ssl.SSLContext | None:
    """Return the server TLS context of --tls-cert/--tls-key, or None for plain HTTP (exits 2 on bad files)."""
    if args.tls_key and not args.tls_cert:
        parser.error("--tls-key needs --tls-cert")
    if not args.tls_cert:
        return None
    try:
        return tls_server_context(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"cannot load --tls-cert/--tls-key: {exc}")


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until interrupted; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    ssl_context = _tls_context(parser, args)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        spec = DistrictSpec(seed=args.seed, schools=args.schools, students_per_school=args.students_per_school,
                            school_year=args.school_year, first_day=args.start_date, last_day=args.end_date,
                            today=args.today)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sim = AeriesSimulator(spec, certificate=args.certificate, admin_routes=args.admin,
                          include_empty_students=args.include_empty_students,
                          attendance_404_when_empty=args.attendance_404_when_empty,
                          fault_hang_seconds=args.hang_seconds,
                          fault_latency_seconds=args.latency_ms / 1000.0)
    if args.latency_ms > 0:
        sim.faults.add(FaultKind.LATENCY)
    if args.fault_rate > 0:
        kinds = (FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.BAD_GATEWAY, FaultKind.UNAVAILABLE)
        for offset, kind in enumerate(kinds):
            sim.faults.add(kind, probability=min(1.0, args.fault_rate / len(kinds)), seed=args.seed + offset)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        sim.start(port=args.port, ssl_context=ssl_context)
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"Aeries simulator (synthetic data) serving {sim.base_url} certificate={sim.certificate}", flush=True)
    print(f"  API: {sim.base_url}/api/v5   schools: {', '.join(map(str, sim.school_codes()))}   "
          f"today: {sim.today}   admin routes: {'on' if args.admin else 'off'}   Ctrl-C to stop", flush=True)
    while not stop.wait(0.5):
        pass
    sim.stop()
    print("Aeries simulator stopped.", flush=True)
    return 0
