"""Recorded telemetry as OpenMetrics 1.0 text, one file per node plus the fabric.

Each file is what ``promtool tsdb create-blocks-from openmetrics`` backfills:
one block per metric family (``# TYPE`` line, then every sample of every
series of that family, series by series, each in time order), timestamps in
seconds with millisecond decimals, ``# EOF`` last. Counters whose name ends in
``_total`` are typed ``counter`` under the family name without the suffix, as
OpenMetrics requires; dcgm-exporter's counters lack that suffix
(``DCGM_FI_DEV_PCIE_REPLAY_COUNTER``), so in OpenMetrics they must be typed
``unknown`` (the metric catalogue still knows they are counters).

Formatting is per family and series with pre-rendered label text: numbers are
turned into strings a whole column at a time, and lines are joined once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from brownout.sim.recording import FLOAT_METRICS
from brownout.telemetry.metrics import BY_NAME

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def family(name: str) -> tuple[str, str]:
    """(family name, OpenMetrics type) of a catalogued metric's samples."""
    kind = BY_NAME[name].kind
    if kind == "counter" and name.endswith("_total"):
        return name[: -len("_total")], "counter"
    return name, "gauge" if kind == "gauge" else "unknown"


def value_strings(name: str, values: F64) -> list[str]:
    """Sample values as text, integers where the exporter prints integers."""
    digits = FLOAT_METRICS.get(name)
    if digits is None:
        return list(map(str, values.astype(np.int64).tolist()))
    # shortest repr of the value rounded to the exporter's precision ("645.802")
    return list(map(str, np.round(values, digits).tolist()))


def stamp_strings(stamps: F64) -> list[str]:
    """Timestamps in seconds with millisecond decimals."""
    return [f"{t:.3f}" for t in stamps.tolist()]


def family_block(name: str, labels: Sequence[str], values: F64, stamps: list[list[str]]
                 ) -> list[str]:
    """Lines of one metric family.

    Args:
        name: catalogued metric (sample) name.
        labels: pre-rendered label text per series (column of ``values``).
        values: (scrapes, series) values, NaN where a series is absent.
        stamps: per series, the timestamp strings of every scrape.
    """
    fam, om_type = family(name)
    out = [f"# TYPE {fam} {om_type}"]
    present = ~np.isnan(values)
    for j, lab in enumerate(labels):
        head = f"{name}{{{lab}}} "
        ts = stamps[j]
        if present[:, j].all():
            vals = value_strings(name, values[:, j])
            out.extend([f"{head}{v} {t}" for v, t in zip(vals, ts, strict=True)])
            continue
        keep = np.flatnonzero(present[:, j])
        vals = value_strings(name, values[keep, j])
        out.extend([f"{head}{v} {ts[i]}" for v, i in zip(vals, keep.tolist(), strict=True)])
    return out
