"""The sweep grid: which runs to do, as small frozen (picklable) values."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

from brownout.errors import InputError
from brownout.yamldoc import read_yaml, refuse_unknown


@dataclass(frozen=True)
class Variant:
    """One setting of the knobs under study.

    Attributes:
        name: label in the results table.
        engine: overrides of :class:`brownout.detect.engine.EngineConfig` fields.
        scenario: top-level overrides merged into the scenario document
            (e.g. ``{"cluster": {"nodes": 64, "layout": "rail"}}``).
    """

    name: str
    engine: dict[str, Any] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid."""

    scenario: str
    seed: int
    variant: Variant


def fresh_seeds(n: int) -> list[int]:
    """``n`` seeds drawn from the OS: sweeps never tune to fixed seeds by accident."""
    return [secrets.randbelow(2**31 - 1) for _ in range(n)]


def build_grid(scenarios: list[str], seeds: list[int], variants: list[Variant]) -> list[RunSpec]:
    """Every (scenario, seed, variant) combination, scenario-major."""
    if not scenarios or not seeds or not variants:
        raise InputError("a sweep needs at least one scenario, one seed and one variant")
    return [RunSpec(s, seed, v) for s, seed, v in itertools.product(scenarios, seeds, variants)]


def load_variants(path: str) -> list[Variant]:
    """Variants from a YAML file: a list of ``{name, engine: {...}, scenario: {...}}``.

    Raises:
        InputError: naming the file and the entry that is wrong.
    """
    raw = read_yaml(path)
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{path}: must be a non-empty list of variants")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InputError(f"{path}: variant {i} needs a 'name'")
        refuse_unknown(item, ("name", "engine", "scenario"), path, f"variant {item['name']}")
        out.append(Variant(item["name"], dict(item.get("engine") or {}),
                           dict(item.get("scenario") or {})))
    return out
