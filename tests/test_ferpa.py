"""Student-data protection: pseudonymised ids, minimised columns, audit trail, rejects, TLS warning."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
from sync_truth import columns_of, expected_attendance, query

from aeries_source.attendance_response import parse_attendance
from aeries_source.client import AeriesClient
from aeries_source.pseudonym import Pseudonymizer
from aeries_sync.runner import EXIT_OK, run_sync

KEY = "synthetic-test-key-not-a-secret"
ROOT = Path(__file__).resolve().parent.parent


def test_pseudonymised_ids_are_consistent_across_tables(sim, make_options):
    options = make_options(sim, pseudonymize_key=KEY)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    nym = Pseudonymizer(KEY)
    raw_ids = {s["StudentID"] for sc in sim.school_codes() for s in sim.truth_students(sc)}
    students = {int(r[0]) for r in query(options, "SELECT student_id FROM {t:students}")}
    assert students == {nym.student_id(i) for i in raw_ids}
    assert not students & raw_ids
    attendance = {int(r[0]) for r in query(options, "SELECT DISTINCT student_id FROM {t:attendance_records}")}
    assert attendance <= students
    enrollment = {int(r[0]) for r in query(options, "SELECT DISTINCT student_id FROM {t:enrollment}")}
    assert enrollment <= students
    truth = expected_attendance(sim, result.plan.batches[0].start, result.plan.batches[-1].end)
    expected = {(sc, nym.student_id(sid), day) for sc, sid, day, *_ in truth}
    loaded = {(int(a), int(b), c) for a, b, c in query(
        options, "SELECT school_code, student_id, attendance_date FROM {t:attendance_records}")}
    assert loaded == expected
    state_ids = {r[0] for r in query(options, "SELECT state_student_id FROM {t:students}")}
    raw_state = {s["StateStudentID"] for sc in sim.school_codes() for s in sim.truth_students(sc)}
    assert not state_ids & raw_state


def test_student_columns_follow_the_allow_list(sim, make_options):
    options = make_options(sim, student_fields=["StudentID", "SchoolCode", "Grade"])
    assert run_sync(options).exit_code == EXIT_OK
    data_columns = {c for c in columns_of(options, "students") if not c.startswith(("_dlt", "sync_"))}
    assert data_columns == {"student_id", "school_code", "grade"}

    default = make_options(sim, dataset_name=options.dataset_name + "_d")
    assert run_sync(default).exit_code == EXIT_OK
    cols = columns_of(default, "students")
    for private in ("birthdate", "residence_address", "mailing_address", "home_phone", "parent_guardian_name",
                    "student_email_address"):
        assert private not in cols


def test_audit_trail_has_operations_but_no_student_data(sim, make_options, tmp_path):
    audit = tmp_path / "audit.jsonl"
    options = make_options(sim, audit_log=str(audit), batch_days=60)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    events = [e["event"] for e in entries]
    assert events[0] == "sync_started" and events[-1] == "sync_finished"
    assert events.count("batch_extracted") == len(result.plan.batches)
    assert all(e["operation_id"] == result.run_id for e in entries)
    batch = next(e for e in entries if e["event"] == "batch_extracted")
    assert {"school_code", "batch_start", "batch_end", "rows", "destination_table", "endpoint"} <= set(batch)
    text = audit.read_text()
    assert sim.certificate not in text
    for sc in sim.school_codes():
        for student in sim.truth_students(sc):
            assert not re.search(rf"\b{student['StudentID']}\b", text)
            assert student["LastName"] not in text


def test_untransformable_records_go_to_rejects_and_the_run_goes_on(sim, make_options, monkeypatch):
    original = AeriesClient.attendance_response

    def with_bad_records(self, school_code, start, end):
        # As if the server had sent them: the body is parsed again as the client parses a response.
        payload = original(self, school_code, start, end).records()
        return parse_attendance(orjson.dumps(payload + [
            {"StudentID": 99000001, "AttendanceDays": [{"CalendarDate": start.isoformat() + "T00:00:00",
                                                        "AllDayAttendanceCode": "?", "Classes": []}]},
            {"StudentID": 99000002, "AttendanceDays": "not a list"},
        ]))

    monkeypatch.setattr(AeriesClient, "attendance_response", with_bad_records)
    options = make_options(sim, batch_days=90)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    batches = len(result.plan.batches)
    assert result.rejects == 2 * batches
    rows = query(options, "SELECT school_code, endpoint, batch_start, batch_end, reason, raw_payload "
                          "FROM {t:rejects}")
    assert len(rows) == 2 * batches
    reasons = {r[4] for r in rows}
    assert any("unknown absence code" in r for r in reasons)
    assert "AttendanceDays missing or not a list" in reasons
    assert all(r[1] == "attendance" and r[2] is not None and r[3] is not None for r in rows)
    # The good records of the same windows were loaded.
    assert query(options, "SELECT COUNT(*) FROM {t:attendance_records}")[0][0] == result.attendance_records > 0
    # A rerun of the same windows does not duplicate the rejects.
    again = run_sync(make_options(sim, batch_days=90, start_date=result.plan.batches[0].start,
                                  end_date=result.plan.batches[-1].end))
    assert again.exit_code == EXIT_OK
    assert query(options, "SELECT COUNT(*) FROM {t:rejects}")[0][0] == 2 * batches


def test_tls_verification_off_is_warned_about(sim, make_options, caplog):
    caplog.set_level(logging.WARNING)
    result = run_sync(make_options(sim, verify_tls=False))
    assert result.exit_code == EXIT_OK
    assert any("TLS certificate verification" in r.getMessage() and "OFF" in r.getMessage() for r in caplog.records)
    caplog.clear()
    run_sync(make_options(sim))
    assert not any("verification" in r.getMessage() for r in caplog.records)


def test_the_committed_config_turns_dlt_telemetry_off():
    # a sync run from the project (as the README says) sends nothing to dlt's telemetry host
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNTIME__")}
    code = "import dlt; print(dlt.config.get('runtime.dlthub_telemetry'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_audit_trail_records_every_endpoint_read(sim, make_options, tmp_path):
    """Every Aeries request of a sync is in the audit trail, with school, rows and destination table."""
    audit = tmp_path / "audit.jsonl"
    options = make_options(sim, audit_log=str(audit), batch_days=60)
    assert run_sync(options).exit_code == EXIT_OK
    reads = [e for e in map(json.loads, audit.read_text().splitlines()) if e["event"] == "endpoint_read"]
    by_endpoint = {e["endpoint"] for e in reads}
    assert {"systeminfo", "schools", "calendar", "absence_codes", "students", "enrollment", "attendance"} <= by_endpoint
    tables = {e["endpoint"]: e["destination_table"] for e in reads}
    assert tables["calendar"] == "calendar_days" and tables["attendance"] == "attendance_records"
    for sc in sim.school_codes():
        assert any(e["endpoint"] == "students" and e["school_code"] == sc and e["rows"] > 0 for e in reads)
        windows = [(e["StartDate"], e["EndDate"]) for e in reads
                   if e["endpoint"] == "attendance" and e["school_code"] == sc]
        assert windows, sc
    # as many request records as requests that succeeded
    logged = [r for r in sim.request_log if r.status == 200]
    assert len(reads) == len(logged)
