"""Keeps what a sync creates closed to Supabase's API roles: row-level security on, their privileges revoked."""

import logging
from typing import Any, List, Sequence, Set, Tuple

import dlt

logger = logging.getLogger(__name__)

# The roles Supabase's Data API runs requests as (publishable key, signed-in user). `service_role`
# bypasses RLS by design and is left alone.
API_ROLES: Tuple[str, ...] = ("anon", "authenticated")

# Schemas shared with objects the sync did not create: only the sync's own objects are touched there.
# Anywhere else the dataset and staging schemas are the sync's, and everything in them is locked.
SHARED_SCHEMAS: Tuple[str, ...] = ("public",)

_TABLE_KINDS = ("r", "p")  # tables and partitioned tables: both can have RLS
_VIEW_KINDS = ("v", "m")  # views and materialized views: no RLS, privileges only

_OBJECTS_SQL = """
SELECT n.nspname, c.relname, c.relkind, c.relrowsecurity,
       EXISTS (SELECT 1 FROM aclexplode(c.relacl) AS a
               JOIN pg_roles AS r ON r.oid = a.grantee WHERE r.rolname = ANY(%s))
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%s) AND c.relkind = ANY(%s)
"""


def lock_down(pipeline: dlt.Pipeline, own_objects: Sequence[str] = ()) -> bool:
    """Close every table and view of the pipeline's dataset and staging dataset to Supabase's API roles.

    On a Postgres destination where the role `anon` or `authenticated` exists (Supabase), each table
    gets row-level security with no policy (those roles see no rows even if someone grants them
    SELECT later) and both roles lose every privilege on each table and view. The loading role
    owns the tables, so it keeps full access (a role that neither owns them nor has BYPASSRLS
    would see no rows either). In a dataset in `public` only the pipeline's own
    tables (those of its dlt schemas, `_dlt_*` included) and the named `own_objects` are touched; in any
    other schema, and in the staging schema, everything is. Views get no RLS (Postgres has none
    for views); they must be `security_invoker` so that the tables' RLS applies to their readers.

    Idempotent and cheap: one query to list the objects, one statement per object still open.
    Other destinations, and a Postgres without those roles, are left alone: RLS there would hide
    every row from a reporting role that was granted SELECT.

    Args:
        pipeline: A pipeline with a Postgres (or any other) destination; it need not have loaded yet.
        own_objects: Tables and views the sync makes outside dlt's schema (the measures), which a
            dataset in `public` must name.

    Returns:
        True when the destination has Supabase's API roles (its objects are now locked down, or
        there were none yet), False when there was nothing to do.
    """
    if pipeline.destination.destination_name != "postgres":
        return False
    known = set(own_objects)
    for name in pipeline.schema_names:
        known.update(pipeline.schemas[name].tables)
    with pipeline.sql_client() as client:
        return _lock_down(client, known)


def api_roles(client: Any) -> List[str]:
    """Return which of Supabase's API roles exist on the server of an open dlt Postgres sql client."""
    return [row[0] for row in client.execute_sql(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname", list(API_ROLES))]


def lock_statements(client: Any, qualified: str, is_table: bool, roles: Sequence[str],
                    has_rls: bool = False, granted: bool = True) -> List[str]:
    """Return the statements that close one table or view to `roles` (none when `roles` is empty).

    Run them in the transaction that creates the object, and no API role ever sees it open.
    """
    if not roles:
        return []
    todo = []
    if is_table and not has_rls:
        todo.append(f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY")
    if granted:
        todo.append(f"REVOKE ALL ON TABLE {qualified} FROM {', '.join(_quote(client, r) for r in roles)}")
    return todo


def _lock_down(client: Any, known: Set[str]) -> bool:
    """Lock down the dataset and staging schemas of an open dlt Postgres sql client; False without the roles."""
    roles = api_roles(client)
    if not roles:
        return False
    schemas = [client.dataset_name, client.staging_dataset_name]
    statements: List[str] = []
    locked = 0
    for schema, name, kind, has_rls, granted in client.execute_sql(
        _OBJECTS_SQL, roles, schemas, list(_TABLE_KINDS + _VIEW_KINDS)
    ):
        if schema in SHARED_SCHEMAS and name not in known:
            continue  # someone else's object in a shared schema
        qualified = f"{_quote(client, schema)}.{_quote(client, name)}"
        todo = lock_statements(client, qualified, kind in _TABLE_KINDS, roles, has_rls, granted)
        statements += todo
        locked += bool(todo)
    if statements:
        # One transaction: an object is never left with RLS on but the grants still there, or the reverse.
        with client.begin_transaction():
            for statement in statements:
                client.execute_sql(statement)
        logger.info("locked %d table(s)/view(s) in %s against %s", locked, ", ".join(schemas), ", ".join(roles))
    else:
        logger.debug("every table and view in %s is already locked against %s", ", ".join(schemas), ", ".join(roles))
    return True


def _quote(client: Any, identifier: str) -> str:
    return str(client.capabilities.escape_identifier(identifier))
