"""A response a sync keeps for its whole run, held as its JSON bytes and decoded on each use."""

from typing import Any, Dict, List

from aeries_source.arrow_json import decoded


class KeptRows:
    """A JSON response's records, kept as the response's bytes.

    A school's calendar is asked for once per sync and used three times (the plan, the calendar
    table, each school's attendance transform). Decoded, a year's calendar of 216 days is 173 KiB
    of dicts against a 54 KB body, and the client kept it for the whole sync: the sync's memory grew
    by ~0.3 MiB a school. Decoding such a body takes well under a millisecond.
    """

    __slots__ = ("body", "_count")

    def __init__(self, body: bytes) -> None:
        """Keep `body` once it decodes.

        Raises:
            orjson.JSONDecodeError: When the body is not JSON (the client retries it as malformed).
        """
        self._count = len(decoded(body))
        self.body = bytes(body)

    def __len__(self) -> int:
        """The number of records in the response."""
        return self._count

    def rows(self) -> List[Dict[str, Any]]:
        """The records, decoded anew (the caller may change them): JSON `null` is none, a bare object is one."""
        return decoded(self.body)
