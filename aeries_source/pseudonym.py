"""Keyed pseudonymisation of student identifiers (HMAC-SHA256), consistent across tables and runs."""

import hashlib
import hmac
from typing import Any, Dict, Optional

# Identifier fields replaced when pseudonymisation is on (snake_case row keys).
IDENTIFIER_COLUMNS = ("student_id", "state_student_id", "student_number")


class Pseudonymizer:
    """Replaces student identifiers with a keyed hash; the same key always gives the same pseudonym.

    Pseudonyms of `student_id` stay positive 63-bit integers, so the columns keep their type and
    joins between tables keep working; without the key they cannot be reversed or recomputed.
    """

    def __init__(self, key: Optional[str]) -> None:
        self._key = key.encode() if key else None

    @property
    def enabled(self) -> bool:
        """Tell whether a key is configured."""
        return self._key is not None

    def student_id(self, value: Any) -> Any:
        """Return the pseudonym of an integer student id (0, the tombstone sentinel, stays 0)."""
        if self._key is None or not isinstance(value, int) or isinstance(value, bool) or value == 0:
            return value
        digest = hmac.new(self._key, f"student:{value}".encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") >> 1 or 1

    def text(self, value: Any) -> Any:
        """Return the pseudonym of a textual identifier (e.g. the state student id)."""
        if self._key is None or value in (None, ""):
            return value
        return hmac.new(self._key, f"text:{value}".encode(), hashlib.sha256).hexdigest()[:20]

    def row(self, row: Dict[str, Any]) -> Dict[str, Any]:
        """Pseudonymise the identifier columns of a table row in place and return it."""
        if self._key is None:
            return row
        if "student_id" in row:
            row["student_id"] = self.student_id(row["student_id"])
        for column in ("state_student_id", "student_number"):
            if column in row:
                row[column] = self.text(row[column])
        return row

    def raw(self, payload: Any) -> Any:
        """Pseudonymise `StudentID`-like keys inside a raw Aeries payload (for the rejects table)."""
        if self._key is None:
            return payload
        if isinstance(payload, dict):
            out = {}
            for k, v in payload.items():
                if k == "StudentID":
                    out[k] = self.student_id(v)
                elif k in ("StateStudentID", "StudentNumber", "FirstName", "LastName", "Birthdate"):
                    out[k] = self.text(v)
                else:
                    out[k] = self.raw(v)
            return out
        if isinstance(payload, list):
            return [self.raw(v) for v in payload]
        return payload
