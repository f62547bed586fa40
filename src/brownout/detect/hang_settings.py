"""The hang detector's timeouts as one configuration value.

``brownout watch`` reads them from the ``hangs:`` section of its config file,
``brownout detect`` and ``brownout watch`` from ``--hang KEY=VALUE`` (repeatable);
see docs/detection.md. A bad value is refused with one line naming it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from brownout.errors import InputError


@dataclass(frozen=True)
class HangTimeouts:
    """When a silent job is a stall, when a rank is named, when to stop.

    Attributes:
        stall_k: a job whose every rank is silent this many of its own step
            times is stalled (a ``job_stalled`` notice) ...
        stall_floor_s: ... and at least this long (a checkpoint save stalls
            every rank too).
        hang_k: with strong evidence against one rank (its GPU's activity apart
            from its peers', or a step behind with an Xid), it is named a
            ``rank_hang`` after this many step times ...
        hang_floor_s: ... and at least this long (never later than the stall).
        give_up_s: a job silent this long has ended; it is no longer reported.
        hold_s: a Flight Recorder finding is kept at most this long without
            progress of its job.
    """

    stall_k: float = 10.0
    stall_floor_s: float = 60.0
    hang_k: float = 4.0
    hang_floor_s: float = 45.0
    give_up_s: float = 3600.0
    hold_s: float = 1800.0

    def __post_init__(self) -> None:
        for name, value in self.params().items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise InputError(f"hangs.{name} must be a positive number of "
                                 f"{'seconds' if name.endswith('_s') else 'step times'}, "
                                 f"got {value!r}")
        if self.give_up_s <= max(self.stall_floor_s, self.hang_floor_s):
            raise InputError(f"hangs.give_up_s ({self.give_up_s:g}) must be longer than "
                             f"stall_floor_s and hang_floor_s")

    def params(self) -> dict[str, float]:
        """The settings by name (the hang detector's keyword arguments)."""
        return dataclasses.asdict(self)

    @classmethod
    def parse(cls, items: Mapping[str, Any], where: str = "hangs") -> HangTimeouts:
        """From a mapping of names to numbers (a YAML section, ``--hang`` pairs)."""
        known = [f.name for f in dataclasses.fields(cls)]
        values: dict[str, float] = {}
        for key, raw in items.items():
            if key not in known:
                raise InputError(f"{where}: unknown setting '{key}' (known: {', '.join(known)})")
            try:
                if isinstance(raw, bool):
                    raise ValueError(raw)
                values[key] = float(raw)
            except (TypeError, ValueError):
                raise InputError(f"{where}.{key}: {raw!r} is not a number") from None
        return cls(**values)


def parse_pairs(pairs: Iterable[str], option: str = "--hang") -> dict[str, str]:
    """``KEY=VALUE`` strings as a mapping (later ones win)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise InputError(f"{option} expects KEY=VALUE (e.g. stall_floor_s=120), got {pair!r}")
        out[key.strip()] = value.strip()
    return out


__all__ = ["HangTimeouts", "parse_pairs"]
