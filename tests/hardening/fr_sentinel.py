"""A side effect that proves whether a pickle ran code: ``trip`` records its call."""

from __future__ import annotations

TRIPPED: list[tuple[object, ...]] = []


def trip(*args: object) -> list[tuple[object, ...]]:
    """Record a call (what a hostile pickle would make the reader run)."""
    TRIPPED.append(args)
    return TRIPPED
