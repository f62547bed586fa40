"""Hostile mutations of recorded telemetry (OpenMetrics text, one file per node).

Each mutation takes the lines of one file, its index among the node files and
a numpy Generator, and returns new lines. They model what real exporters and
clusters do: out-of-order and duplicated samples, node clocks off by minutes,
counter resets and 32-bit wraps, NaN/Inf, DCGM blank sentinels, a family
whose ``# TYPE`` flips between gauge and counter.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

Mutation = Callable[[list[str], int, np.random.Generator], list[str]]
SKEW_S = 300.0
DCGM_BLANKS = ("2147483632", "140737488355328", "9223372036854775794")


def _blocks(lines: list[str]) -> list[tuple[list[str], list[str]]]:
    """(comment lines, sample lines) per metric family, in file order; ``# EOF`` dropped."""
    out: list[tuple[list[str], list[str]]] = []
    for line in lines:
        if line.startswith("# EOF") or not line:
            continue
        if line.startswith("#"):
            if not out or out[-1][1]:
                out.append(([], []))
            out[-1][0].append(line)
        else:
            if not out:
                out.append(([], []))
            out[-1][1].append(line)
    return out


def _join(blocks: list[tuple[list[str], list[str]]]) -> list[str]:
    return [x for head, body in blocks for x in (*head, *body)] + ["# EOF"]


def _split(line: str) -> tuple[str, str, str]:
    """(series, value, timestamp) of a sample line with a timestamp."""
    head, value, ts = line.rsplit(" ", 2)
    return head, value, ts


def _map_samples(lines: list[str], fn: Callable[[list[str]], list[str]]) -> list[str]:
    return _join([(head, fn(body)) for head, body in _blocks(lines)])


def out_of_order(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """Samples of each family shuffled (timestamps intact)."""
    del i
    return _map_samples(lines, lambda b: [b[k] for k in rng.permutation(len(b))])


def duplicated(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """A fifth of the samples sent twice (same timestamp, same value)."""
    del i
    def dup(body: list[str]) -> list[str]:
        twice = rng.random(len(body)) < 0.2
        return [x for line, d in zip(body, twice, strict=True) for x in ([line] * (1 + d))]
    return _map_samples(lines, dup)


def clock_skew(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """Every node's clock off by up to +/-5 minutes (node i: a different offset)."""
    offset = float(rng.uniform(-SKEW_S, SKEW_S)) if i % 2 else (SKEW_S if i % 4 else -SKEW_S)
    def shift(body: list[str]) -> list[str]:
        out = []
        for line in body:
            head, value, ts = _split(line)
            out.append(f"{head} {value} {float(ts) + offset:.3f}")
        return out
    return _map_samples(lines, shift)


def _is_counter(head: list[str]) -> bool:
    return any(h.startswith("# TYPE") and h.split()[-1] in ("counter", "unknown") for h in head)


def counter_resets(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """Counters of every series restart from zero at one random moment (exporter restart)."""
    del i
    blocks = []
    for head, body in _blocks(lines):
        blocks.append((head, _rebase(body, _cut_time(body, rng))
                       if _is_counter(head) and body else body))
    return _join(blocks)


def _cut_time(body: list[str], rng: np.random.Generator) -> float:
    ts = sorted(float(_split(x)[2]) for x in body)
    return ts[int(rng.integers(len(ts) // 4, 3 * len(ts) // 4 + 1))]


def _rebase(body: list[str], cut_s: float) -> list[str]:
    """Per series, values at or after ``cut_s`` minus the series' value just before it."""
    base: dict[str, float] = {}
    for line in body:
        head, value, ts = _split(line)
        if float(ts) < cut_s:
            base[head] = float(value)
    out = []
    for line in body:
        head, value, ts = _split(line)
        if float(ts) >= cut_s:
            value = repr(max(0.0, float(value) - base.get(head, 0.0)))
        out.append(f"{head} {value} {ts}")
    return out


def counter_wraps(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """Counters read as 32-bit registers: they wrap at 2**32 (offset so they do, mid-run)."""
    del i
    blocks = []
    for head, body in _blocks(lines):
        if _is_counter(head) and body:
            start = float(rng.uniform(2**32 - 1e6, 2**32 - 1))
            wrapped = []
            for line in body:
                name, value, ts = _split(line)
                wrapped.append(f"{name} {int(float(value) + start) % 2**32} {ts}")
            blocks.append((head, wrapped))
        else:
            blocks.append((head, body))
    return _join(blocks)


def _replace_values(lines: list[str], rng: np.random.Generator, choices: tuple[str, ...],
                    share: float) -> list[str]:
    def swap(body: list[str]) -> list[str]:
        hit = rng.random(len(body)) < share
        pick = rng.integers(len(choices), size=len(body))
        out = []
        for line, h, k in zip(body, hit, pick, strict=True):
            name, _, ts = _split(line)
            out.append(f"{name} {choices[k]} {ts}" if h else line)
        return out
    return _map_samples(lines, swap)


def nonfinite(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """Three percent of values NaN, +Inf or -Inf."""
    del i
    return _replace_values(lines, rng, ("NaN", "+Inf", "-Inf"), 0.03)


def sentinels(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """Three percent of values DCGM blank codes (int32, fp64, int64 blanks)."""
    del i
    return _replace_values(lines, rng, DCGM_BLANKS, 0.03)


def type_flip(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """``# TYPE`` gauge <-> counter flipped on every other node (other nodes unchanged)."""
    del rng
    if i % 2:
        return lines
    flip = {"gauge": "counter", "counter": "gauge", "unknown": "gauge"}
    out = []
    for line in lines:
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out.append(f"# TYPE {name} {flip.get(kind, kind)}")
        else:
            out.append(line)
    return out


MUTATIONS: dict[str, Mutation] = {
    "out_of_order": out_of_order, "duplicated": duplicated, "clock_skew": clock_skew,
    "counter_resets": counter_resets, "counter_wraps": counter_wraps,
    "nonfinite": nonfinite, "sentinels": sentinels, "type_flip": type_flip,
}


def everything(lines: list[str], i: int, rng: np.random.Generator) -> list[str]:
    """All mutations at once, in a fixed order."""
    for name in ("counter_resets", "type_flip", "sentinels", "nonfinite", "clock_skew",
                 "duplicated", "out_of_order"):
        lines = MUTATIONS[name](lines, i, rng)
    return lines


MUTATIONS["everything"] = everything


def mutate_recording(src: Path, dst: Path, mutation: Mutation, seed: int) -> None:
    """Copy a recording directory's ``.om`` files through ``mutation``."""
    dst.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, path in enumerate(sorted(src.glob("*.om"))):
        lines = path.read_text().splitlines()
        if path.stem.startswith("n"):  # node files; the fabric file stays as recorded
            lines = mutation(lines, i, rng)
        (dst / path.name).write_text("\n".join(lines) + "\n")
