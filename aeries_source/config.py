"""Every setting of the Aeries source, declared once with its default and validation (`[sources.aeries]`)."""

from datetime import date
from typing import Any, Dict, List, Optional, Union

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from aeries_source import settings
from aeries_source.client import RetryPolicy
from aeries_source.errors import AeriesConfigError


@configspec
class AeriesConfiguration(BaseConfiguration):
    """The source's settings; dlt fills them from `[sources.aeries]`, secrets and `SOURCES__AERIES__*`.

    Validation runs in `on_resolved`, so a bad value stops `aeries()` with one `AeriesConfigError`
    before anything is requested or written.
    """

    base_url: Optional[str] = None
    """The district's Aeries root (`https://host/aeries`); a trailing `/api/v5` is fine."""
    certificate: Optional[TSecretStrValue] = None
    """The district's Aeries API certificate (secret)."""
    database_year: int = settings.DEFAULT_DATABASE_YEAR
    """Starting year of the school year (2024 = 2024-2025); the server must offer it."""
    school_year_start: date = settings.DEFAULT_START_DATE
    school_year_end: date = settings.DEFAULT_END_DATE
    start_date: Optional[date] = None
    """With `end_date`: read exactly this range (both inclusive) instead of a full or delta sync."""
    end_date: Optional[date] = None
    batch_days: int = settings.DEFAULT_BATCH_DAYS
    """Days per batch: one attendance request per school and batch."""
    rows_per_item: int = settings.DEFAULT_ROWS_PER_ITEM
    """Attendance rows per Arrow table handed to dlt: a school's consecutive batches are gathered up to it (1: none)."""
    school_codes: Optional[List[int]] = None
    """Schools to sync; default every active school."""
    lookback_days: int = settings.DEFAULT_LOOKBACK_DAYS
    """Delta syncs of a school whose calendar locks nothing re-read this many days before the cursor."""
    checkpoint_every: Optional[int] = None
    """Batches per pipeline run; each run commits a checkpoint and the next run goes on. None: all."""
    checkpoint_seconds: Optional[float] = None
    """Seconds a pipeline run reads batches before it stops to commit (after at least one). 0 or None: no limit."""
    resume_from_batch: int = 0
    """Skip the plan's batches numbered below this; the next sync reads them."""
    breaker_threshold: int = 10
    """Consecutive failed requests to one school before its remaining batches are skipped."""
    student_fields: Optional[List[str]] = None
    """Aeries student fields to keep (default `settings.DEFAULT_STUDENT_FIELDS`)."""
    pseudonymize_key: Optional[TSecretStrValue] = None
    """When set, student ids become keyed HMAC pseudonyms in every table (secret)."""
    attendance_history: bool = False
    """Load Aeries's yearly counts into `attendance_history_summary` (one request per school), for reconciling."""
    verify_tls: bool = True
    ca_bundle: Optional[str] = None
    """A CA bundle file for a district on an internal certificate authority."""
    # Retry defaults are RetryPolicy's, so the client and the settings cannot drift apart.
    request_timeout: float = RetryPolicy.timeout
    request_max_attempts: int = RetryPolicy.max_attempts
    request_backoff_factor: float = RetryPolicy.backoff_factor
    request_max_retry_delay: float = RetryPolicy.max_delay
    request_max_total_wait: float = RetryPolicy.max_total_wait
    request_jitter: float = RetryPolicy.jitter
    """Random seconds (up to) added to each backoff wait, so clients do not retry in step."""
    max_concurrent_requests: int = 4
    """At most this many requests to the Aeries server in flight at once (all threads of a sync)."""
    max_requests_per_second: float = 50.0
    """At most this many requests started per second; 0 means no ceiling.

    With 4 in flight this binds only on requests shorter than 80 ms (single students, small pages):
    the bursts that hammer a server. A month of a school's attendance takes longer than that.
    """

    def on_resolved(self) -> None:
        """Refuse settings that cannot work.

        Raises:
            AeriesConfigError: With one line naming the problem and how to fix it.
        """
        if not self.base_url:
            raise AeriesConfigError(
                "no Aeries server configured: set SOURCES__AERIES__BASE_URL and SOURCES__AERIES__CERTIFICATE "
                "(or .dlt/secrets.toml), or run with --demo"
            )
        if not self.certificate:
            raise AeriesConfigError("no Aeries certificate configured: set SOURCES__AERIES__CERTIFICATE")
        _at_least(self.batch_days, 1, "batch_days must be a positive number of days")
        _at_least(self.rows_per_item, 1, "rows_per_item must be a positive number of rows")
        if self.checkpoint_every is not None:
            _at_least(self.checkpoint_every, 1, "checkpoint_every must be a positive number of batches")
        if self.checkpoint_seconds is not None and not self.checkpoint_seconds >= 0:
            raise AeriesConfigError("checkpoint_seconds cannot be negative (0 means no time limit)")
        _at_least(self.resume_from_batch, 0, "resume_from_batch cannot be negative")
        _at_least(self.lookback_days, 0, "lookback_days cannot be negative")
        _at_least(self.breaker_threshold, 1, "breaker_threshold must be at least 1 failed request")
        _at_least(self.request_max_attempts, 1, "request_max_attempts must be at least 1")
        _at_least(self.max_concurrent_requests, 1, "max_concurrent_requests must be at least 1")
        if self.max_requests_per_second < 0:
            raise AeriesConfigError("max_requests_per_second cannot be negative (0 means no ceiling)")
        if self.request_timeout <= 0:
            raise AeriesConfigError("request_timeout must be a positive number of seconds")
        if self.request_backoff_factor < 0 or self.request_max_retry_delay < 0 or self.request_jitter < 0:
            raise AeriesConfigError("request_backoff_factor and request_max_retry_delay cannot be negative")
        if self.request_max_total_wait <= 0:
            raise AeriesConfigError("request_max_total_wait must be a positive number of seconds")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise AeriesConfigError(f"end date {self.end_date} is before start date {self.start_date}")
        if self.school_year_end < self.school_year_start:
            raise AeriesConfigError("school_year_end is before school_year_start")

    @classmethod
    def from_arguments(cls, arguments: Dict[str, Any]) -> "AeriesConfiguration":
        """Build the settings from `aeries()`'s arguments (dlt resolved and validated them already).

        Dates given in code as text (`"2025-01-06"`) become dates.

        Raises:
            AeriesConfigError: When a date is not YYYY-MM-DD.
        """
        fields = cls.get_resolvable_fields()
        values = {name: value for name, value in arguments.items() if name in fields}
        for name in ("school_year_start", "school_year_end", "start_date", "end_date"):
            values[name] = _as_date(values.get(name), name)
        return cls(**values)

    def retry_policy(self) -> RetryPolicy:
        """The request timeout and retry settings as the client takes them."""
        return RetryPolicy(
            max_attempts=self.request_max_attempts, backoff_factor=self.request_backoff_factor,
            max_delay=self.request_max_retry_delay, max_total_wait=self.request_max_total_wait,
            jitter=self.request_jitter, timeout=self.request_timeout,
        )

    def tls_verify(self) -> Union[bool, str]:
        """What `requests` verifies the server with: the CA bundle, or on/off."""
        return self.ca_bundle if self.ca_bundle else bool(self.verify_tls)

    def source_args(self) -> Dict[str, Any]:
        """The settings as keyword arguments of `aeries()`."""
        return {name: getattr(self, name) for name in self.get_resolvable_fields()}


def _as_date(value: Any, name: str) -> Any:
    if value is None or value == "" or isinstance(value, date):
        return value or None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise AeriesConfigError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def _at_least(value: int, minimum: int, message: str) -> None:
    if value < minimum:
        raise AeriesConfigError(message)


def resolve_configuration(**explicit: Any) -> AeriesConfiguration:
    """Resolve the source's settings as `aeries()` does: explicit values over `[sources.aeries]` config.

    Args:
        explicit: Settings given in code (for example mapped from command-line flags); None
            values are left to the configuration.

    Raises:
        AeriesConfigError: When a setting has a value that cannot work.
        dlt.common.configuration.exceptions.ConfigurationException: When a value has the wrong type.
    """
    from dlt.common.configuration import resolve_configuration as dlt_resolve

    given = {k: v for k, v in explicit.items() if v is not None}
    return dlt_resolve(AeriesConfiguration(), sections=("sources", "aeries"), explicit_value=given)
