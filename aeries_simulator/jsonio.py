"""JSON encoding: orjson when installed (it ships with dlt), else the standard library."""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson comes with dlt
    orjson = None  # type: ignore[assignment]


def dumps(value: Any) -> bytes:
    """Serialize ``value`` to compact UTF-8 JSON bytes, keys in insertion order."""
    if orjson is not None:
        return orjson.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
