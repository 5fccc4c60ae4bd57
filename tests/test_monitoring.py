"""The report, the alerts and the metrics file that the command leaves after a sync, as a user runs it."""

import json
import re
import threading
from datetime import date
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_simulator.faults import FaultKind
from tests.reliability_helpers import cli_env, run_cli

SPEC = DistrictSpec(seed=51, schools=3, students_per_school=14, today=date(2025, 2, 20))
SMALL_SCHOOL = 103


class _Page(HTMLParser):
    """What a browser would fetch and show: tags, their attributes, style text and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: List[Tuple[str, Dict[str, Any]]] = []
        self.text: List[str] = []
        self.style: List[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Any]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.style if self._in_style else self.text).append(data)


class _Receiver:
    """A webhook on 127.0.0.1 that records every POST; it answers `status`, or never when `hang`."""

    def __init__(self, status: int = 200, hang: bool = False) -> None:
        self.messages: List[Dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.messages.append(json.loads(body))
                if hang:
                    threading.Event().wait(30)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def district() -> Iterator[AeriesSimulator]:
    """Three schools; school 103 keeps only 8 students with an enrolled day (a cell to suppress)."""
    with AeriesSimulator(SPEC) as sim:
        for student in sim.truth_students(SMALL_SCHOOL)[8:]:
            sim.withdraw_student(SMALL_SCHOOL, student["StudentID"], SPEC.first_day)
        yield sim


def _command(tmp_path: Path, sim: AeriesSimulator, *extra: str, **env: str) -> Tuple[Any, Path, Path]:
    report, metrics = tmp_path / "report.html", tmp_path / "metrics" / "aeries.prom"
    args = ["--destination", "duckdb", "--duckdb-path", str(tmp_path / "watch.duckdb"), "--dataset-name", "watched",
            "--pipeline-name", "watch_test", "--report", str(report), "--metrics-file", str(metrics), *extra]
    done = run_cli(args, tmp_path, cli_env(sim, None, tmp_path / "dlt", **env))
    return done, report, metrics


def _student_words(sim: AeriesSimulator) -> List[str]:
    words = set()
    for sc in sim.school_codes():
        for student in sim.truth_students(sc):
            words.update({str(student["StudentID"]), student["FirstName"], student["LastName"],
                          str(student["StateStudentID"])})
    return sorted(w for w in words if w)


def _cause(stderr: str) -> str:
    """The command's one-line cause on stderr."""
    return next(line for line in stderr.splitlines() if line.startswith("error: "))


def _metrics(path: Path) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(path.read_text()) for s in family.samples}


def test_the_report_shows_the_plan_outcomes_and_charts_and_no_student(district: AeriesSimulator,
                                                                      tmp_path: Path) -> None:
    done, report, metrics = _command(tmp_path, district)
    assert done.returncode == 0, done.stderr
    text = report.read_text()
    page = _Page()
    page.feed(text)
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    assert len(images) >= 2 and all(i["src"].startswith("data:image/png;base64,") for i in images)
    assert len(images) == 4  # batch timeline, rows and seconds, weekly rate, chronic absenteeism
    # nothing fetched: no script, stylesheet link, frame or remote image; no URL in any attribute or style
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object", "embed")]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not re.match(r"\s*(https?:)?//", str(value or "")), (tag, name, value)
    assert not re.search(r"url\(|@import|https?://", "".join(page.style))
    visible = " ".join(page.text)
    for sc in district.school_codes():  # the plan's schools, with their batch outcomes
        assert re.search(rf"\b{sc}\b", visible)
    assert re.search(r"\bread \d+", visible)
    # no student id, state id or name anywhere (chart images aside, searched as text below)
    without_images = re.sub(r'src="data:[^"]*"', "", text)
    found = [w for w in _student_words(district) if re.search(rf"\b{re.escape(w)}\b", without_images)]
    assert found == []
    # the small school's measures are suppressed, the others are shown
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td>", text)
    measures = {int(sc): cell for sc, cell in rows if cell.startswith("suppressed") or cell.isdigit()}
    assert measures[SMALL_SCHOOL] == "suppressed (fewer than 10 students)"
    assert all(cell.isdigit() and int(cell) >= 10 for sc, cell in measures.items() if sc != SMALL_SCHOOL)
    values = _metrics(metrics)
    labels = (("dataset", "watched"), ("pipeline", "watch_test"))
    assert values[("aeries_sync_exit_code", labels)] == 0
    assert values[("aeries_sync_attendance_records", labels)] > 0


def test_a_rejected_certificate_alerts_once_and_keeps_its_exit_code(district: AeriesSimulator,
                                                                    tmp_path: Path) -> None:
    receiver = _Receiver()
    certificate = "z" * 32
    try:
        done, report, metrics = _command(tmp_path, district, ALERTS__WEBHOOK_URL=receiver.url,
                                         SOURCES__AERIES__CERTIFICATE=certificate)
    finally:
        receiver.close()
    assert done.returncode == 4, done.stderr
    cause = _cause(done.stderr)
    assert len(receiver.messages) == 1
    message = receiver.messages[0]["text"]
    port = district.base_url.split(":")[2].split("/")[0]
    for part in ("watch_test", "watched", f"127.0.0.1:{port}", "exit code 4", cause):
        assert part in message, (part, message)
    assert certificate not in message and district.base_url not in message
    assert not [w for w in _student_words(district) if re.search(rf"\b{re.escape(w)}\b", message)]
    assert report.exists()  # written whatever the exit code, past the configuration checks
    labels = (("dataset", "watched"), ("pipeline", "watch_test"))
    values = _metrics(metrics)
    assert values[("aeries_sync_exit_code", labels)] == 4
    auth = (("dataset", "watched"), ("error_class", "auth"), ("pipeline", "watch_test"))
    assert values[("aeries_sync_errors", auth)] >= 1
    assert ("aeries_sync_last_success_timestamp_seconds", labels) not in values  # never succeeded


@pytest.mark.parametrize("webhook", ["ok", "answers_500", "never_answers"])
def test_a_circuit_breaker_run_alerts_and_a_broken_webhook_changes_nothing(
    district: AeriesSimulator, tmp_path: Path, webhook: str,
) -> None:
    receiver = _Receiver(status=500 if webhook == "answers_500" else 200, hang=webhook == "never_answers")
    district.faults.add(FaultKind.UNAVAILABLE, route="attendance@102", probability=1.0)
    try:
        done, report, metrics = _command(
            tmp_path, district, ALERTS__WEBHOOK_URL=receiver.url, ALERTS__TIMEOUT_SECONDS="2",
            SOURCES__AERIES__BREAKER_THRESHOLD="2", SOURCES__AERIES__REQUEST_MAX_ATTEMPTS="2")
    finally:
        receiver.close()
    assert done.returncode == 3, done.stderr
    assert len(receiver.messages) == 1
    message = receiver.messages[0]["text"]
    assert "exit code 3" in message and "skipped schools: 102" in message and "failed batches:" in message
    assert _cause(done.stderr) in message
    assert report.exists() and metrics.exists()
    if webhook != "ok":
        assert "alert webhook" in done.stderr  # logged, and the exit code is still 3


def test_the_last_success_time_survives_a_failed_sync(district: AeriesSimulator, tmp_path: Path) -> None:
    done, _, metrics = _command(tmp_path, district)
    assert done.returncode == 0, done.stderr
    labels = (("dataset", "watched"), ("pipeline", "watch_test"))
    success = _metrics(metrics)[("aeries_sync_last_success_timestamp_seconds", labels)]
    done, _, metrics = _command(tmp_path, district, SOURCES__AERIES__CERTIFICATE="y" * 32)
    assert done.returncode == 4
    values = _metrics(metrics)
    assert values[("aeries_sync_exit_code", labels)] == 4
    assert values[("aeries_sync_last_success_timestamp_seconds", labels)] == success
