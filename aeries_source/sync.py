"""Starting a sync: the client with its TLS and retry settings, the server's checks, and the plan."""

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Dict, List, Optional, Sequence

from aeries_source.calendar_index import CalendarIndex
from aeries_source.checkpoint import (
    current_resource_states,
    school_cursor,
    school_failed_batches,
    school_open_from,
    school_relocked_months,
    school_skipped_batches,
)
from aeries_source.client import AeriesClient
from aeries_source.config import AeriesConfiguration
from aeries_source.errors import AeriesConfigError
from aeries_source.limiter import RequestLimiter
from aeries_source.planning import SyncPlan, build_plan, check_resume_from_batch
from aeries_source.pseudonym import Pseudonymizer
from aeries_source.runtime import BatchBudget, SyncRuntime
from aeries_source.side_by_side import side_by_side

logger = logging.getLogger(__name__)


def start_sync(
    config: AeriesConfiguration,
    resource_states: Optional[Dict[str, Any]] = None,
    run_id: Optional[str] = None,
    client: Optional[AeriesClient] = None,
    plan_now: bool = True,
) -> SyncRuntime:
    """Connect, check the server and plan one sync; what `aeries()` does first when given no runtime.

    Args:
        config: The resolved source settings.
        resource_states: The `aeries` source's per-resource state (cursors, failed and skipped
            batches, months read while open); default: the current pipeline's, when planned.
        run_id: The sync's operation id (default: a new one).
        client: A client to reuse (default: a new one from the TLS and retry settings).
        plan_now: Plan at once; otherwise on first use inside the pipeline run (`ensure_plan`).

    Raises:
        AeriesConfigError: A DatabaseYear the server does not offer, an unknown school code, or a
            `resume_from_batch` beyond the plan.
        AeriesCriticalError: Authentication, TLS, DNS or connection-refused failures.
    """
    if config.verify_tls is False and not config.ca_bundle:
        logger.warning("TLS certificate verification of the Aeries server is OFF (verify_tls = false): "
                       "traffic with student data can be intercepted; use ca_bundle for an internal CA")
    client = client or make_client(config)
    # The schools are asked for while the DatabaseYear is checked: two round trips before the first
    # attendance request cost one. The year's error still comes first; the client caches the schools.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="aeries-schools") as pool:
        schools = pool.submit(client.schools)
        check_database_year(client, config.database_year)
        schools.result()
    codes = check_school_codes(client, config.school_codes)

    def planner() -> SyncPlan:
        plan = plan_sync(
            client, codes, config.start_date, config.end_date, config.batch_days, config.lookback_days,
            config.school_year_start, config.school_year_end, resource_states,
        )
        check_resume_from_batch(plan, config.resume_from_batch)
        return plan

    runtime = SyncRuntime(
        client=client, planner=planner, school_codes=codes, run_id=run_id or uuid.uuid4().hex[:16],
        resume_from_batch=config.resume_from_batch,
        budget=BatchBudget(config.checkpoint_every, config.checkpoint_seconds),
        breaker_threshold=config.breaker_threshold,
        pseudonymizer=Pseudonymizer(str(config.pseudonymize_key) if config.pseudonymize_key else None),
    )
    if plan_now:
        runtime.ensure_plan()
    return runtime


def make_client(config: AeriesConfiguration) -> AeriesClient:
    """The Aeries client of the settings: base URL, certificate, DatabaseYear, retries and TLS."""
    limiter = RequestLimiter(config.max_concurrent_requests, config.max_requests_per_second)
    return AeriesClient(str(config.base_url), str(config.certificate), config.database_year,
                        config.retry_policy(), config.tls_verify(), limiter=limiter)


def _fetch_side_by_side(client: AeriesClient, codes: Sequence[int]) -> List[CalendarIndex]:
    """Each school's calendar (cached by the client for the sync), schools side by side.

    One at a time they cost a round trip each before the first attendance request.
    """
    return [CalendarIndex(rows) for _, rows in side_by_side(codes, client.calendar)]


def check_database_year(client: AeriesClient, year: int) -> None:
    """Refuse a DatabaseYear the server does not offer (Aeries would silently serve another year).

    Raises:
        AeriesConfigError: Naming the years the server offers.
    """
    info = client.system_info()
    offered = [str(y) for y in info.get("AvailableDatabaseYears") or []]
    wanted = f"{year}-{year + 1}"
    if offered and wanted not in offered:
        raise AeriesConfigError(
            f"database_year {year} ({wanted}) is not offered by this Aeries server "
            f"(available: {', '.join(offered)})"
        )


def active_school_codes(schools: Sequence[Dict[str, Any]]) -> List[int]:
    """Return the codes of real, active schools: no district entry 0, no inactive setup schools."""
    codes = []
    for school in schools:
        code = school.get("SchoolCode")
        if not isinstance(code, int) or code <= 0:
            continue
        if str(school.get("InactiveStatusCode") or "").strip():
            continue
        codes.append(code)
    return sorted(codes)


def check_school_codes(client: AeriesClient, school_codes: Optional[Sequence[int]]) -> List[int]:
    """Return the schools to sync: the requested ones, checked against the server, or every active one.

    Raises:
        AeriesConfigError: When a requested code is not an active school of the district.
    """
    available = active_school_codes(client.schools())
    if not school_codes:
        return available
    unknown = sorted(set(int(c) for c in school_codes) - set(available))
    if unknown:
        raise AeriesConfigError(
            f"school code(s) {', '.join(map(str, unknown))} are not active schools of this district "
            f"(active: {', '.join(map(str, available))})"
        )
    return sorted(set(int(c) for c in school_codes))


def plan_sync(
    client: AeriesClient,
    school_codes: Optional[Sequence[int]],
    start: Optional[date],
    end: Optional[date],
    batch_days: int,
    lookback_days: int,
    year_start: date,
    year_end: date,
    resource_states: Optional[Dict[str, Any]] = None,
) -> SyncPlan:
    """Ask the server for its schools, calendars and clock and decide what the sync reads.

    Args:
        resource_states: The `aeries` source's per-resource state (cursors, failed and skipped chunks);
            default: the active pipeline's.

    Raises:
        AeriesConfigError: When a requested school code is not an active school of the district.
    """
    if batch_days <= 0:
        raise AeriesConfigError("batch_days must be a positive number of days")
    codes = check_school_codes(client, school_codes)
    server_now = client.server_now()
    today = server_now.date()
    calendars = dict(zip(codes, _fetch_side_by_side(client, codes), strict=True))
    states = current_resource_states() if resource_states is None else resource_states
    cursors = {sc: school_cursor(states, sc) for sc in codes}
    failed = {sc: school_failed_batches(states, sc) for sc in codes}
    open_from = {sc: school_open_from(states, sc) for sc in codes}
    skipped = {sc: school_skipped_batches(states, sc) for sc in codes}
    relocked = {sc: school_relocked_months(states, sc, calendars[sc]) for sc in codes}
    plan = build_plan(
        codes, calendars, cursors, year_start, year_end, today, batch_days, lookback_days, start, end,
        failed, open_from, skipped, relocked,
    )
    plan.server_now = server_now
    return plan
