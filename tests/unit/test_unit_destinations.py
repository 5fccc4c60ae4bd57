"""Unit tests of the destination factories that keep their capabilities for the sync."""

from datetime import date

import dlt
import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention

from aeries_source.tables import ATTENDANCE_RECORDS, STUDENTS, TOMBSTONE_COLUMN
from aeries_sync.destinations import (
    AttendanceMergeJob,
    DuckDb,
    MergeOnMergeKeyJob,
    Postgres,
    _duckdb_client_class,
    _MergesOnMergeKey,
)


def comparable(caps):
    # selectors are functools.partial objects, which compare by identity
    return {k: repr(v) if callable(v) else v for k, v in dict(caps).items()}


@pytest.mark.parametrize(
    "ours, theirs",
    [
        pytest.param(DuckDb(credentials="/tmp/batch.duckdb"), dlt.destinations.duckdb(credentials="/tmp/batch.duckdb"),
                     id="duckdb"),
        pytest.param(Postgres(credentials="postgresql://u:p@127.0.0.1:5432/db"),
                     dlt.destinations.postgres(credentials="postgresql://u:p@127.0.0.1:5432/db"), id="postgres"),
    ],
)
def test_same_type_and_capabilities_as_dlt_s_factory(ours, theirs):
    assert ours.destination_type == theirs.destination_type
    assert ours.destination_name == theirs.destination_name
    for naming in (None, NamingConvention()):
        mine, dlts = ours.capabilities(naming=naming), theirs.capabilities(naming=naming)
        assert comparable(mine) == comparable(dlts)


def test_capabilities_are_resolved_once_per_naming_and_handed_out_as_copies(monkeypatch):
    destination = DuckDb(credentials="/tmp/batch.duckdb")
    calls = []
    original = dlt.destinations.duckdb.capabilities

    def counting(self, config=None, naming=None):
        calls.append(naming)
        return original(self, config, naming)

    monkeypatch.setattr(dlt.destinations.duckdb, "capabilities", counting)
    first = destination.capabilities(naming=NamingConvention())
    second = destination.capabilities(naming=NamingConvention())  # another instance, same convention
    destination.capabilities()
    assert len(calls) == 2, "once with the schema's naming, once without"
    assert first is not second and comparable(first) == comparable(second)
    first.max_identifier_length = 1
    assert destination.capabilities(naming=NamingConvention()).max_identifier_length != 1


def test_merge_deletes_by_the_merge_key_alone_when_it_is_part_of_the_primary_key():
    keys = MergeOnMergeKeyJob._gen_key_table_clauses(['"school"', '"student"', '"day"'], ['"school"', '"day"'])
    assert keys == ['{d}."school" = {s}."school" AND {d}."day" = {s}."day"']
    # a merge key with a column outside the primary key keeps dlt's OR of both
    assert len(MergeOnMergeKeyJob._gen_key_table_clauses(['"id"'], ['"day"'])) == 2
    assert len(MergeOnMergeKeyJob._gen_key_table_clauses(['"id"'], [])) == 1


def _merge(pipeline, rows):
    hints = dict(write_disposition="merge", primary_key=("school", "student", "day"), merge_key=("school", "day"))
    pipeline.run(dlt.resource(rows, name="marks", **hints))


def test_a_merge_on_real_duckdb_replaces_school_days_and_deduplicates_on_the_primary_key(tmp_path):
    pipeline = dlt.pipeline("unit_merge", destination=DuckDb(credentials=str(tmp_path / "m.duckdb")),
                            dataset_name="batch", pipelines_dir=str(tmp_path / "p"))
    _merge(pipeline, [
        {"school": 1, "student": 10, "day": 1, "code": "A"},
        {"school": 1, "student": 11, "day": 1, "code": "T"},
        {"school": 1, "student": 10, "day": 2, "code": "A"},
        {"school": 2, "student": 10, "day": 1, "code": "A"},
    ])
    # school 1 day 1 again: student 11 gone (deleted by the merge key), student 10 twice (as a
    # replayed load stages it): one row remains
    _merge(pipeline, [
        {"school": 1, "student": 10, "day": 1, "code": "U"},
        {"school": 1, "student": 10, "day": 1, "code": "U"},
    ])
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT school, student, day, code FROM marks ORDER BY 1, 2, 3")
    assert [tuple(r) for r in rows] == [(1, 10, 1, "U"), (1, 10, 2, "A"), (2, 10, 1, "A")]

    with pipeline.destination_client() as job_client:
        assert isinstance(job_client, _duckdb_client_class())
        table = job_client.prepare_load_table("marks")
        sql = " ".join(MergeOnMergeKeyJob.gen_merge_sql([table], job_client.sql_client))
    assert "DELETE" in sql and " OR " not in sql


def _batch(school, days, codes):
    """A batch as the source stages it: a tombstone per day, then a row per student and day."""
    tombstones = [{"school_code": school, "student_id": 0, "attendance_date": day, TOMBSTONE_COLUMN: True}
                  for day in days]
    rows = [{"school_code": school, "student_id": student, "attendance_date": day, "all_day_code": code,
             TOMBSTONE_COLUMN: False} for day in days for student, code in codes.items()]
    return tombstones + rows


def _pipeline(kind, name, tmp_path, request):
    if kind == "duckdb":
        destination = DuckDb(credentials=str(tmp_path / "m.duckdb"))
    else:
        destination = Postgres(credentials=request.getfixturevalue("postgres_url"))
    return dlt.pipeline(name, destination=destination, pipelines_dir=str(tmp_path / "p"),
                        dataset_name=f"{name}_{tmp_path.name[-12:].lower().replace('-', '_')}")


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_attendance_merge_inserts_staged_rows_once_whether_or_not_a_school_day_was_staged_twice(
        kind, tmp_path, request):
    pipeline = _pipeline(kind, "att_merge", tmp_path, request)
    d1, d2, d3 = date(2024, 9, 3), date(2024, 9, 4), date(2024, 9, 5)

    def load(rows):
        pipeline.run(dlt.resource(rows, **ATTENDANCE_RECORDS.resource_args()))

    def stored():
        with pipeline.sql_client() as client:
            return [tuple(r) for r in client.execute_sql(
                "SELECT school_code, student_id, attendance_date, all_day_code FROM attendance_records"
                " ORDER BY 1, 2, 3")]

    # Two batches, no school-day staged twice: inserted as staged.
    load(_batch(1, [d1, d2], {10: "A", 11: "T"}) + _batch(1, [d3], {10: "U"}))
    assert stored() == [(1, 10, d1, "A"), (1, 10, d2, "A"), (1, 10, d3, "U"), (1, 11, d1, "T"), (1, 11, d2, "T")]
    # The first batch staged twice (a staging COPY replayed after a kill) and a day of it read by a
    # second batch too: deduplicated, one row per student and day; day 1 replaced (student 11 gone).
    again = _batch(1, [d1, d2], {10: "E"})
    load(again + again + _batch(1, [d2], {10: "E"}))
    assert stored() == [(1, 10, d1, "E"), (1, 10, d2, "E"), (1, 10, d3, "U")]

    with pipeline.destination_client() as job_client:
        assert isinstance(job_client, _MergesOnMergeKey)  # whose merges are AttendanceMergeJob's
        sql = " ".join(AttendanceMergeJob.gen_merge_sql([job_client.prepare_load_table("attendance_records")],
                                                      job_client.sql_client))
    # the rows as staged unless a tombstone's school-day is there twice, dlt's deduplication if so
    assert "UNION ALL" in sql and "_dlt_dedup_rn" in sql and "HAVING COUNT(*) > 1" in sql
    # and the numbering reads the staged rows only through that check, so it numbers none when
    # nothing was staged twice
    assert sql.index("ROW_NUMBER()") < sql.index(") AS _aeries_restaged")


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_other_tables_merge_with_dlt_s_deduplication_alone(kind, tmp_path, request):
    pipeline = _pipeline(kind, "other_merge", tmp_path, request)
    rows = [{"student_id": 1, "school_code": 1, "last_name": "Synthetic", TOMBSTONE_COLUMN: False}] * 2
    pipeline.run(dlt.resource(rows, **STUDENTS.resource_args()))
    with pipeline.sql_client() as client:
        assert client.execute_sql("SELECT COUNT(*) FROM students")[0][0] == 1
    with pipeline.destination_client() as job_client:
        sql = " ".join(AttendanceMergeJob.gen_merge_sql([job_client.prepare_load_table("students")],
                                                      job_client.sql_client))
    assert "_dlt_dedup_rn" in sql and "UNION ALL" not in sql


def test_both_destinations_use_dlt_s_job_client_with_the_merge_key_merge():
    pairs = [(DuckDb(credentials="/tmp/batch.duckdb"), dlt.destinations.duckdb(credentials="/tmp/batch.duckdb")),
             (Postgres(credentials="postgresql://u:p@127.0.0.1:5432/db"),
              dlt.destinations.postgres(credentials="postgresql://u:p@127.0.0.1:5432/db"))]
    for ours, theirs in pairs:
        assert issubclass(ours.client_class, theirs.client_class)
        assert ours.client_class._create_merge_followup_jobs is _MergesOnMergeKey._create_merge_followup_jobs


@pytest.mark.parametrize("url", [
    "postgresql://u:p@127.0.0.1:5432/db",
    "postgresql://u:p%40ss%2Fw@db.example.org:6543/postgres?sslmode=require&connect_timeout=7",
    "postgresql://u:p@h/db?client_encoding=utf8&options=-csearch_path%3Dx",
    "postgres://u@h/db",
])
def test_credentials_parse_a_url_as_dlt_does(url):
    from dlt.destinations.impl.postgres.configuration import PostgresCredentials

    from aeries_sync.destinations import LocalPostgresCredentials

    ours, dlts = LocalPostgresCredentials(url), PostgresCredentials(url)
    for name in ("drivername", "username", "password", "host", "port", "database", "query",
                 "connect_timeout", "client_encoding"):
        assert getattr(ours, name) == getattr(dlts, name), name
    # What psycopg2 is given to connect with.
    assert ours.to_native_representation() == dlts.to_native_representation()


def test_credentials_take_a_password_less_socket_url_and_refuse_a_non_url():
    from dlt.common.configuration.specs.exceptions import InvalidConnectionString

    from aeries_sync.destinations import LocalPostgresCredentials

    local = LocalPostgresCredentials("postgresql://postgres:@/postgres?host=/var/run/postgresql")
    assert (local.username, local.host, local.database, local.query) == (
        "postgres", None, "postgres", {"host": "/var/run/postgresql"})
    with pytest.raises(InvalidConnectionString):
        LocalPostgresCredentials("not a url at all")


def test_parsing_and_rendering_credentials_does_not_import_sqlalchemy():
    import os
    import subprocess
    import sys

    code = ("import sys; from aeries_sync.destinations import Postgres; "
            "config = Postgres(credentials='postgresql://u:p@127.0.0.1:5432/db')"
            ".configuration(None, accept_partial=True); "
            "config.credentials.to_native_representation(); "  # the DSN dlt's sql client connects with
            "print('sqlalchemy' in sys.modules)")
    # As the command runs: dlt's Airflow secrets provider off (it would import Airflow, and SQLAlchemy with it).
    env = {**os.environ, "PROVIDERS__ENABLE_AIRFLOW_SECRETS": "false"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


def test_sync_connection_loads_without_keeping_insertion_order_within_its_memory_limit(tmp_path):
    from aeries_sync.options import sync_options
    from aeries_sync.pipeline import sync_connection

    options = sync_options(destination="duckdb", duckdb_path=str(tmp_path / "sync.duckdb"), duckdb_memory_limit="64MB")
    with sync_connection(options) as connection:
        settings = dict(connection.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('preserve_insertion_order', 'memory_limit')"
        ).fetchall())
    assert settings["preserve_insertion_order"] == "false"
    assert settings["memory_limit"] == "61.0 MiB"  # 64 MB as DuckDB reports it
