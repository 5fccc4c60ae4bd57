"""On a Postgres with Supabase's API roles, nothing the sync creates is readable by `anon` or `authenticated`.

The Postgres is a pgserver of this module's own, with a database per test: the roles are
cluster-wide, and on the session's shared server they would give every later test RLS. It
emulates Supabase as its docs describe (roles `anon`, `authenticated`, `service_role`, all NOLOGIN,
and the default privileges of `public`); `SET ROLE anon` then reads as the Data API would.
`service_role` has BYPASSRLS in real Supabase and reads everything by design: not tested here.
"""

import uuid
from typing import Any, Dict, Iterator, List, Tuple

import psycopg2
import pytest
from conftest import _pgserver_url
from dlt.load.load import Load
from sync_truth import query

from aeries_simulator import AeriesSimulator, DistrictSpec
from aeries_source.measures import MEASURES
from aeries_source.supabase import API_ROLES, lock_down
from aeries_sync.pipeline import make_pipeline
from aeries_sync.runner import EXIT_OK, run_sync

SUPABASE_ROLES = ("anon", "authenticated", "service_role")

# What Supabase's migrations give a project's database (docs: "Emulating it in a test").
SUPABASE_PRIVILEGES = """
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
"""

Objects = List[Tuple[str, str]]


@pytest.fixture(scope="module")
def supabase_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Postgres of this module's own with Supabase's roles; yields its URL (database `postgres`)."""
    pgserver = pytest.importorskip("pgserver")
    server = pgserver.get_server(str(tmp_path_factory.mktemp("supabase_pg")), cleanup_mode="stop")
    try:
        url = _pgserver_url(server.get_uri())
        for role in SUPABASE_ROLES:  # idempotent: a rerun on a kept data folder finds them
            _execute(url, f"DO $$ BEGIN CREATE ROLE {role} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        yield url
    finally:
        server.cleanup()


@pytest.fixture
def supabase_url(supabase_server: str) -> str:
    """A fresh database on the Supabase-like server, with Supabase's privileges in `public`."""
    name = f"sb_{uuid.uuid4().hex[:10]}"
    _execute(supabase_server, f"CREATE DATABASE {name}")
    url = supabase_server.rsplit("/", 1)[0] + f"/{name}"
    _execute(url, SUPABASE_PRIVILEGES)
    return url


@pytest.fixture
def small_sim() -> Iterator[AeriesSimulator]:
    """A small district: two schools of ten students, a whole school year."""
    simulator = AeriesSimulator(DistrictSpec(seed=11, schools=2, students_per_school=10))
    simulator.start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        simulator.stop()


def _execute(url: str, sql: str, *args: Any) -> List[Tuple[Any, ...]]:
    connection = psycopg2.connect(url)
    try:
        connection.autocommit = True  # CREATE DATABASE runs outside a transaction
        with connection.cursor() as cursor:
            cursor.execute(sql, args or None)
            return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


def _objects(url: str, schema: str, kinds: str = "rpvm") -> Objects:
    rows = _execute(url, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = %s AND c.relkind = ANY(%s) ORDER BY 2", schema, list(kinds))
    return [(r[0], r[1]) for r in rows]


def _rows_as(url: str, role: str, objects: Objects) -> Dict[str, Any]:
    """What `role` reads from each object: its row count, or "denied"."""
    seen: Dict[str, Any] = {}
    connection = psycopg2.connect(url)
    try:
        connection.autocommit = True  # a denied query must not abort the next one
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
            for schema, name in objects:
                try:
                    cursor.execute(f'SELECT COUNT(*) FROM "{schema}"."{name}"')
                    seen[name] = cursor.fetchone()[0]
                except psycopg2.errors.InsufficientPrivilege:
                    seen[name] = "denied"
    finally:
        connection.close()
    return seen


def _readable(url: str, objects: Objects) -> Dict[str, Dict[str, Any]]:
    """The objects an API role reads any row from, per role (empty: nothing is open)."""
    readable = {}
    for role in API_ROLES:
        rows = {name: n for name, n in _rows_as(url, role, objects).items() if n not in ("denied", 0)}
        if rows:
            readable[role] = rows
    return readable


def _security(url: str, objects: Objects) -> Dict[str, Tuple[bool, List[str]]]:
    """Per object: RLS on, and which API roles hold any privilege on it."""
    result = {}
    for schema, name in objects:
        rls, grantees = _execute(url, """
            SELECT c.relrowsecurity, ARRAY(SELECT DISTINCT r.rolname FROM aclexplode(c.relacl) a
                                           JOIN pg_roles r ON r.oid = a.grantee
                                           WHERE r.rolname IN ('anon', 'authenticated') ORDER BY 1)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s
        """, schema, name)[0]
        result[name] = (rls, list(grantees))
    return result


class LoadWatch:
    """Reads the dataset as `anon` and `authenticated` each time a load job of any pipeline run finishes.

    A job finishing is when its rows become visible (the merge of the staged rows commits). A table
    open to the API roles with rows in it stays so at least until the `lock_down` after the run,
    which comes after the last of these checks: any window of exposure shows up here.
    """

    def __init__(self, url: str, schema: str, ignore: Tuple[str, ...]) -> None:
        self.url, self.schema, self.ignore = url, schema, ignore
        self.checks = 0
        self.tables_seen = 0
        self.exposed: List[Dict[str, Any]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> "LoadWatch":
        original = Load.complete_jobs

        def complete_jobs(load: Load, load_id: str, jobs: Any, schema: Any) -> Any:
            outcome = original(load, load_id, jobs, schema)
            if outcome[1]:  # some job reached a terminal state just now
                self.check()
            return outcome

        monkeypatch.setattr(Load, "complete_jobs", complete_jobs)
        return self

    def check(self) -> None:
        objects = [o for o in _objects(self.url, self.schema) if o[1] not in self.ignore]
        self.checks += 1
        self.tables_seen = max(self.tables_seen, len(objects))
        readable = _readable(self.url, objects)
        if readable:
            self.exposed.append(readable)


def _sync_tables(url: str, schema: str, pipeline_tables: List[str]) -> Objects:
    return [o for o in _objects(url, schema, "rp") if o[1] in pipeline_tables]


def _pipeline_tables(options: Any) -> List[str]:
    return list(make_pipeline(options).default_schema.tables)


def test_a_dataset_in_public_is_never_readable_by_the_api_roles(small_sim, make_options, supabase_url, monkeypatch):
    # Someone else's table and view in `public`, open to anon as Supabase makes them: left alone.
    _execute(supabase_url, "CREATE TABLE public.notes (note text); INSERT INTO public.notes VALUES ('hello'); "
                           "CREATE VIEW public.note_view AS SELECT note FROM public.notes")
    assert _rows_as(supabase_url, "anon", [("public", "notes")]) == {"notes": 1}, "the emulation grants anon nothing"
    options = make_options(small_sim, "postgres", postgres_credentials=supabase_url, dataset_name="public")
    watch = LoadWatch(supabase_url, "public", ("notes", "note_view")).install(monkeypatch)

    first = run_sync(options)
    assert first.exit_code == EXIT_OK, first.message
    assert watch.checks >= 2 and watch.tables_seen >= 10, "the watch saw too little to prove anything"
    assert watch.exposed == [], f"the API roles could read rows during the first load: {watch.exposed[:3]}"

    second = run_sync(options)  # a delta sync keeps everything locked
    assert second.exit_code == EXIT_OK, second.message
    assert watch.exposed == [], f"the API roles could read rows during the delta sync: {watch.exposed[:3]}"

    names = _pipeline_tables(options)
    tables = _sync_tables(supabase_url, "public", names)
    created = {t for _, t in tables}
    assert {"students", "enrollment", "attendance_records", "sync_runs", "_dlt_pipeline_state"} <= created
    security = _security(supabase_url, tables)
    assert all(rls and not grantees for rls, grantees in security.values()), security
    every = [o for o in _objects(supabase_url, "public") if o[1] not in ("notes", "note_view")]
    assert _readable(supabase_url, every) == {}
    for role in API_ROLES:  # no privilege left on the tables: a plain permission error, as the advisor wants
        assert set(_rows_as(supabase_url, role, tables).values()) == {"denied"}
    # the loading role still reads everything
    assert query(options, "SELECT COUNT(*) FROM {t:students}")[0][0] > 0
    assert query(options, "SELECT COUNT(*) FROM {t:attendance_records}")[0][0] > 0
    # tables created before their first row still get their keys (their key columns came with the rows)
    keyed = {r[0] for r in _execute(supabase_url, "SELECT table_name FROM information_schema.table_constraints "
                                                  "WHERE table_schema = 'public' AND constraint_type = 'PRIMARY KEY'")}
    assert {"schools", "absence_codes", "students", "enrollment", "calendar_days", "attendance_records"} <= keyed
    # someone else's table and view: untouched
    assert _security(supabase_url, [("public", "notes"), ("public", "note_view")]) == {
        "notes": (False, ["anon", "authenticated"]), "note_view": (False, ["anon", "authenticated"])}
    assert _rows_as(supabase_url, "anon", [("public", "notes")]) == {"notes": 1}

    # The measures (views and summary tables) are closed in the transaction that makes them: no
    # grant survives from Supabase's defaults, tables have RLS, views are `security_invoker`.
    measures = [o for o in _objects(supabase_url, "public") if o[1] in MEASURES]
    assert {name for _, name in measures} >= {"student_days", "student_attendance_summary"}, measures
    measure_security = _security(supabase_url, measures)
    assert all(not grantees for _, grantees in measure_security.values()), measure_security
    assert all(rls for name, (rls, _) in measure_security.items() if name != "student_days"), measure_security
    assert set(_rows_as(supabase_url, "anon", measures).values()) <= {"denied", 0}
    assert lock_down(make_pipeline(options), own_objects=MEASURES) is True
    assert all(not grantees for _, grantees in _security(supabase_url, measures).values())


def test_a_dataset_in_its_own_schema_stays_closed_when_someone_grants_anon(small_sim, make_options, supabase_url):
    options = make_options(small_sim, "postgres", postgres_credentials=supabase_url)
    result = run_sync(options)
    assert result.exit_code == EXIT_OK, result.message
    dataset, staging = options.dataset_name, f"{options.dataset_name}_staging"
    tables = _objects(supabase_url, dataset, "rp")
    assert {"students", "attendance_records", "_dlt_loads"} <= {t for _, t in tables}
    assert all(rls and not grantees for rls, grantees in _security(supabase_url, tables).values())

    # Someone opens the dataset up to the Data API: RLS without a policy still shows no row.
    for schema in (dataset, staging):
        _execute(supabase_url, f"GRANT USAGE ON SCHEMA {schema} TO anon, authenticated; "
                               f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO anon, authenticated")
    every = _objects(supabase_url, dataset)
    for role in API_ROLES:
        seen = _rows_as(supabase_url, role, every)
        assert set(seen.values()) == {0}, seen  # readable now, and empty
    assert query(options, "SELECT COUNT(*) FROM {t:students}")[0][0] > 0


def test_the_staging_schema_is_locked_too(small_sim, make_options, supabase_url):
    options = make_options(small_sim, "postgres", postgres_credentials=supabase_url)
    assert run_sync(options).exit_code == EXIT_OK
    staging = f"{options.dataset_name}_staging"
    tables = _objects(supabase_url, staging, "rp")
    assert {"students", "attendance_records"} <= {t for _, t in tables}
    assert all(rls and not grantees for rls, grantees in _security(supabase_url, tables).values())
    # The sync empties staging at its end; put a student row back as a merge leaves it, then open it up.
    columns = ", ".join(f'"{c}"' for (c,) in _execute(supabase_url, """
        SELECT s.column_name FROM information_schema.columns s JOIN information_schema.columns d
          ON d.column_name = s.column_name AND d.table_name = s.table_name
        WHERE s.table_schema = %s AND d.table_schema = %s AND s.table_name = 'students'""",
        staging, options.dataset_name))
    _execute(supabase_url, f'INSERT INTO "{staging}".students ({columns}) '
                           f'SELECT {columns} FROM "{options.dataset_name}".students')
    _execute(supabase_url, f"GRANT USAGE ON SCHEMA {staging} TO anon; "
                           f"GRANT SELECT ON ALL TABLES IN SCHEMA {staging} TO anon")
    assert _rows_as(supabase_url, "anon", [(staging, "students")]) == {"students": 0}
    assert _execute(supabase_url, f'SELECT COUNT(*) FROM "{staging}".students')[0][0] > 0


def test_plain_postgres_without_the_roles_is_left_alone(sim, make_options, postgres_url):
    from datetime import date

    roles = _execute(postgres_url, "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", list(API_ROLES))
    if roles:
        pytest.skip("the shared Postgres has Supabase's roles")
    options = make_options(sim, "postgres", start_date=date(2024, 9, 2), end_date=date(2024, 9, 13))
    assert run_sync(options).exit_code == EXIT_OK
    assert lock_down(make_pipeline(options)) is False
    dataset = options.dataset_name
    tables = _objects(postgres_url, dataset, "rp") + _objects(postgres_url, f"{dataset}_staging", "rp")
    assert tables
    assert not any(rls for rls, _ in _security(postgres_url, tables).values())


def test_other_destinations_are_left_alone(sim, make_options):
    assert lock_down(make_pipeline(make_options(sim, "duckdb"))) is False
