"""dlt's DuckDB and Postgres destinations, tuned for repeated checkpoint runs of one sync."""

import copy
import functools
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

import dlt
from dlt.common.configuration import configspec
from dlt.common.configuration.specs.exceptions import InvalidConnectionString
from dlt.common.configuration.utils import serialize_value
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.common.destination.client import FollowupJobRequest, PreparedTableSchema
from dlt.common.destination.reference import DestinationReference
from dlt.common.libs.sql_alchemy_shims import URL, make_url
from dlt.common.schema.typing import TSortOrder
from dlt.common.typing import TSecretStrValue
from dlt.common.utils import digest128
from dlt.destinations.impl.postgres.configuration import PostgresClientConfiguration, PostgresCredentials
from dlt.destinations.impl.postgres.postgres import PostgresClient
from dlt.destinations.job_client_impl import SqlJobClientBase
from dlt.destinations.sql_client import SqlClientBase
from dlt.destinations.sql_jobs import SqlMergeFollowupJob

from aeries_source.tables import ATTENDANCE_RECORDS, TOMBSTONE_COLUMN


class MergeOnMergeKeyJob(SqlMergeFollowupJob):
    """dlt's merge job, deleting by the merge key alone when it is part of the primary key.

    With both keys dlt deletes the destination rows matching `primary key OR merge key`. When every
    merge-key column is also a primary-key column, a primary-key match is a merge-key match, so the
    condition equals the merge-key match alone (absorption; it holds with NULLs too). The OR keeps
    databases from hash-joining the staged rows, so every merge compared the growing table with
    them row by row: measured ~5 s of a Postgres full year in checkpoint runs
    (`attendance_records`: key school, student, date; merge key school, date). Deduplication of
    the staged rows on the primary key is unchanged.
    Depends on dlt 1.31's `SqlMergeFollowupJob._gen_key_table_clauses`; re-check on upgrade.
    """

    @classmethod
    def _gen_key_table_clauses(cls, primary_keys: Sequence[str], merge_keys: Sequence[str]) -> List[str]:
        if primary_keys and merge_keys and set(merge_keys) <= set(primary_keys):
            return super()._gen_key_table_clauses([], merge_keys)
        return super()._gen_key_table_clauses(primary_keys, merge_keys)


@dataclass(frozen=True)
class _Restaging:
    """How to tell, in SQL, that a staged attendance table holds some school-day twice (names escaped)."""

    tombstone: str
    school_day: Tuple[str, ...]


# The attendance merge whose SQL is being generated, on this thread (dlt's SQL generation is a
# chain of classmethods that pass column lists, not the table).
_RESTAGING: ContextVar[Optional[_Restaging]] = ContextVar("aeries_restaging", default=None)


class AttendanceMergeJob(MergeOnMergeKeyJob):
    """`MergeOnMergeKeyJob` that deduplicates staged attendance only when a school-day was staged twice.

    dlt numbers every staged row per primary key before inserting (`ROW_NUMBER() OVER (PARTITION
    BY ...)`), a sort of all staged rows and columns. For the staged rows of a full year of
    20 x 2,000, an insert took 2.4-2.9 s with it and 0.9-1.3 s without on Postgres 16, 2.1-2.5 s
    and 1.6 s on DuckDB (its `memory_limit` 100MB; 0.6-0.7 s once the numbering read the staged
    rows only through the check, below), the check included. Duplicates can only
    come from a school-day staged twice: a batch keeps one record per student and day and stages
    a tombstone for each of its days, so two rows of one key mean two tombstones of one school-day
    (a staging COPY replayed after a kill, or two batches of one plan that share days). The insert
    takes the staged rows as they are unless the tombstones say so (~0.1 s to check), and dlt's
    deduplication otherwise. Depends on dlt 1.31's `gen_merge_sql` calling
    `gen_select_from_dedup_sql` for a single-table chain; re-check on upgrade.
    """

    @classmethod
    def gen_merge_sql(cls, table_chain: Sequence[PreparedTableSchema], sql_client: SqlClientBase[Any]) -> List[str]:
        root = table_chain[0]
        restaging = None
        if len(table_chain) == 1 and root["name"] == ATTENDANCE_RECORDS.name and TOMBSTONE_COLUMN in root["columns"]:
            restaging = _Restaging(sql_client.escape_column_name(TOMBSTONE_COLUMN),
                                   tuple(sql_client.escape_column_name(c) for c in ATTENDANCE_RECORDS.merge_key))
        token = _RESTAGING.set(restaging)
        try:
            return super().gen_merge_sql(table_chain, sql_client)
        finally:
            _RESTAGING.reset(token)

    @classmethod
    def gen_select_from_dedup_sql(
        cls,
        table_name: str,
        primary_keys: Sequence[str],
        columns: Sequence[str],
        dedup_sort: Optional[Tuple[str, TSortOrder]] = None,
        condition: Optional[str] = None,
        condition_columns: Optional[Sequence[str]] = None,
        skip_dedup: bool = False,
    ) -> str:
        restaging = _RESTAGING.get()
        if skip_dedup or restaging is None:
            # dlt annotates these defaults of None without Optional
            return super().gen_select_from_dedup_sql(
                table_name, primary_keys, columns, dedup_sort, condition, condition_columns,  # type: ignore[arg-type]
                skip_dedup)
        # Uncorrelated: evaluated once, and only the branch it allows reads any rows. The numbering
        # reads the staged rows through it rather than being filtered after it: DuckDB numbered all
        # staged rows before discarding them. A full year's merge (20 x 2,000, three syncs each,
        # alternated) took 1.09-1.30 s that way and 0.64-0.66 s this way, and the load's peak RSS
        # was ~9 MiB lower; Postgres plans either as a one-time filter (0.94-1.13 s both ways).
        restaged = (f"EXISTS (SELECT 1 FROM {table_name} WHERE {restaging.tombstone} "
                    f"GROUP BY {', '.join(restaging.school_day)} HAVING COUNT(*) > 1)")
        as_staged = f"SELECT {', '.join(columns)} FROM {table_name} WHERE ({condition or '1 = 1'}) AND NOT {restaged}"
        deduplicated = super().gen_select_from_dedup_sql(
            f"(SELECT * FROM {table_name} WHERE {restaged}) AS _aeries_restaged", primary_keys, columns,
            dedup_sort, condition, condition_columns)  # type: ignore[arg-type]
        return f"{as_staged}\nUNION ALL\n{deduplicated}"


class _MergesOnMergeKey(SqlJobClientBase):
    """A dlt job client mixin whose merges use `AttendanceMergeJob` (listed before the dlt client class)."""

    def _create_merge_followup_jobs(self, table_chain: Sequence[PreparedTableSchema]) -> List[FollowupJobRequest]:
        return [AttendanceMergeJob.from_table_chain(table_chain, self.sql_client)]


@functools.lru_cache(maxsize=None)
def _duckdb_client_class() -> Type[SqlJobClientBase]:
    """dlt's DuckDB client with `MergeOnMergeKeyJob`, made on first use.

    Importing dlt's DuckDB client imports duckdb itself, 22 MiB of a process's memory that a sync
    into Postgres never uses.
    """
    from dlt.destinations.impl.duckdb.duck import DuckDbClient

    return type("_DuckDbClient", (_MergesOnMergeKey, DuckDbClient), {})


class _PostgresClient(_MergesOnMergeKey, PostgresClient):
    pass


class _CapabilitiesOnce:
    """Keeps the destination's capabilities after the first time they are asked for.

    dlt asks a destination factory for its capabilities some 25 times per pipeline run, and each
    time resolves the destination's whole configuration again (for DuckDB on an open connection
    that includes a query): measured, about a fifth of a checkpoint's fixed cost. The default
    capabilities cannot change during a sync, so they are computed once per naming convention;
    calls with an explicit config go to dlt as before. Depends on dlt 1.31's `Destination`
    (`capabilities`, `destination_type`); re-check on upgrade.
    """

    _capabilities_by_naming: Optional[Dict[Tuple[Any, ...], DestinationCapabilitiesContext]] = None

    def capabilities(self, config: Any = None, naming: Any = None) -> DestinationCapabilitiesContext:
        if config is not None:
            return super().capabilities(config, naming)  # type: ignore[misc]
        # dlt passes the schema's naming convention: a new instance per schema object, the same
        # kind and settings throughout a sync
        key = (type(naming), getattr(naming, "max_length", None), getattr(naming, "is_case_sensitive", None))
        if self._capabilities_by_naming is None:
            self._capabilities_by_naming = {}
        if key not in self._capabilities_by_naming:
            self._capabilities_by_naming[key] = super().capabilities(naming=naming)  # type: ignore[misc]
        # a copy: callers may adjust what they get
        return copy.copy(self._capabilities_by_naming[key])

    @property
    def destination_type(self) -> str:
        # The type of the dlt factory this class extends, so pipeline state and configuration
        # sections are exactly those of the plain dlt destination.
        base = next(c for c in type(self).__mro__ if c.__module__.startswith("dlt."))
        return DestinationReference.normalize_type(f"{base.__module__}.{base.__qualname__}")


class DuckDb(_CapabilitiesOnce, dlt.destinations.duckdb):
    """`dlt.destinations.duckdb` with capabilities computed once and merges on the merge key."""

    @property
    def client_class(self) -> Type[SqlJobClientBase]:  # type: ignore[override]
        return _duckdb_client_class()


@configspec(init=False)
class LocalPostgresCredentials(PostgresCredentials):
    """Postgres credentials that also accept a URL without a password or with a socket host.

    `postgresql://postgres:@/postgres?host=/var/run/postgresql` (what pgserver and many local
    setups hand out) is a valid libpq URL: peer or trust authentication needs no password, and the
    host may be a socket folder given as the `host` query parameter. dlt's own spec requires both.
    """

    password: Optional[TSecretStrValue] = None  # type: ignore[assignment]
    host: Optional[str] = None  # type: ignore[assignment]

    def parse_native_representation(self, native_value: Any) -> None:
        """Parse a connection URL as dlt does, with dlt's own URL parser instead of SQLAlchemy's.

        dlt parses with SQLAlchemy's `make_url` whenever SQLAlchemy is installed (Airflow brings
        it), and importing SQLAlchemy for that added 8 MiB to a sync's memory (measured). dlt
        ships the same parser (`sql_alchemy_shims`) for installs without SQLAlchemy. Otherwise as
        dlt 1.31's `ConnectionStringCredentials` and `PostgresCredentials` parse; re-check on upgrade.
        """
        if not isinstance(native_value, str):
            raise InvalidConnectionString(self.__class__, native_value, self.drivername)
        try:
            url = make_url(native_value)
            self.update({k: v for k, v in url._asdict().items() if v is not None})
            if self.query is not None:
                self.query = dict(self.query)  # the parser's query is immutable
        except Exception:
            raise InvalidConnectionString(self.__class__, native_value, self.drivername) from None
        query = self.query or {}
        self.connect_timeout = int(query.get("connect_timeout", self.connect_timeout))
        self.client_encoding = query.get("client_encoding", self.client_encoding)

    def to_url(self) -> URL:  # type: ignore[override]
        """Build the connection URL as dlt 1.31 does, with dlt's own URL class instead of SQLAlchemy's.

        dlt renders the URL it connects with through SQLAlchemy whenever SQLAlchemy is installed,
        so connecting imported it (8 MiB) even though parsing no longer does.
        """
        query: Dict[str, Any] = {k: None if v is None else serialize_value(v) for k, v in self.get_query().items()}
        return URL.create(self.drivername, self.username, self.password, self.host, self.port, self.database, query)


@configspec
class LocalPostgresClientConfiguration(PostgresClientConfiguration):
    """dlt's Postgres configuration with `LocalPostgresCredentials`."""

    credentials: LocalPostgresCredentials = None  # type: ignore[assignment]

    def _socket_host(self) -> str:
        query = (self.credentials.query or {}) if self.credentials else {}
        return str(query.get("host") or "")

    def fingerprint(self) -> str:
        """Fingerprint of the host, or of the socket folder when the host is in the query."""
        if self.credentials and not self.credentials.host and self._socket_host():
            return digest128(self._socket_host())
        return super().fingerprint()

    def data_location(self) -> str:
        """`host:port/database`, with the socket folder standing in for a missing host."""
        if self.credentials and not self.credentials.host and self._socket_host():
            port = self.credentials.port or self.DEFAULT_PORT
            return f"{self._socket_host()}:{port}/{self.credentials.database}"
        return super().data_location()


class Postgres(_CapabilitiesOnce, dlt.destinations.postgres):
    """`dlt.destinations.postgres` with capabilities computed once and merges on the merge key.

    Its credentials may omit the password and name a socket folder as host (`LocalPostgresCredentials`).
    """

    spec = LocalPostgresClientConfiguration  # type: ignore[assignment]

    @property
    def client_class(self) -> Type[PostgresClient]:
        return _PostgresClient
