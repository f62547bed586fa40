"""NVIDIA's Xid catalogue: what each Xid code means and NVIDIA's resolution for it.

The catalogue (``xid_catalog_nvidia.csv``, package data, Apache-2.0 from
leptonai/gpud) is telemetry vocabulary: detectors read it to tell a GPU's own
failure from an application fault, and the policy maps its resolutions to
actions (:mod:`brownout.policy.xid`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class XidEntry:
    """One catalogue row."""

    xid: int
    mnemonic: str
    description: str
    immediate: str
    investigatory: str



@cache
def catalogue() -> dict[int, XidEntry]:
    """The packaged Xid catalogue, keyed by code."""
    text = resources.files("brownout.telemetry").joinpath("xid_catalog_nvidia.csv").read_text(
        encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return {int(r["xid"]): XidEntry(int(r["xid"]), r["mnemonic"], r["description"],
                                    r["immediate_resolution"].strip(),
                                    r["investigatory_resolution"].strip())
            for r in csv.DictReader(io.StringIO(body))}
