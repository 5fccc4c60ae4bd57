"""Fast deterministic hashing: stateless random draws keyed by (seed, school, student, date)."""

from __future__ import annotations

import hashlib

_M64 = (1 << 64) - 1
BLOCK_DAYS = 32  # one blake2b digest (64 bytes) yields 32 16-bit draws, one per calendar day


def mix64(value: int) -> int:
    """Return the splitmix64 finalizer of ``value``: a well-mixed 64-bit integer.

    Args:
        value: Any integer; only its low 64 bits matter.

    Returns:
        A 64-bit unsigned integer.
    """
    value &= _M64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _M64
    return value ^ (value >> 31)


def key(*parts: int) -> int:
    """Combine integers into one 64-bit key, order-sensitively.

    Args:
        *parts: Integers such as seed, school code, student id.

    Returns:
        A 64-bit unsigned integer.
    """
    acc = 0x9E3779B97F4A7C15
    for part in parts:
        acc = mix64(acc ^ (part & _M64))
    return acc


def unit(value: int) -> float:
    """Map a 64-bit integer to a float in [0, 1)."""
    return (value >> 11) / float(1 << 53)


def day_draws(student_key: int, first_block: int, last_block: int) -> memoryview:
    """Return 16-bit draws for every calendar day of blocks ``first_block..last_block``.

    Draw ``i`` belongs to day ordinal ``first_block * BLOCK_DAYS + i``. Hashing a whole
    block at once is what keeps per-student-day generation cheap; because blocks are
    aligned to ordinals, a day's draw never depends on the requested window.

    Args:
        student_key: The student's 64-bit key at one school.
        first_block: First block index (ordinal // BLOCK_DAYS).
        last_block: Last block index, inclusive.

    Returns:
        A memoryview of unsigned shorts.
    """
    prefix = student_key.to_bytes(8, "little")
    digests = [
        hashlib.blake2b(prefix + block.to_bytes(4, "little"), digest_size=64).digest()
        for block in range(first_block, last_block + 1)
    ]
    return memoryview(b"".join(digests)).cast("H")
