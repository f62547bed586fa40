"""Which step records were already taken: a bounded set of 64-bit record keys.

A record is identified by ``(job, rank, step, ts)`` (spec/telemetry.md §5: a
record pushed twice counts once). The four are mixed into one 64-bit key
(splitmix64 finaliser): two different records share a key with probability
about 2^-64 per pair, negligible for the few million keys held.

Keys are held in sorted numpy arrays, generation by generation: new keys go
to a small young array (merged by a linear sort of two sorted runs), and a
full young array becomes a generation; the oldest generation is forgotten
when there are ``generations`` of them. So a duplicate is recognised when its
first copy is among the last ``generations * generation_keys`` records taken
(by default the last 4 million: minutes of a 16,384-rank job at one step a
second; retries come within seconds).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from brownout.telemetry.steps import StepRecords

U64 = npt.NDArray[np.uint64]

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: U64) -> U64:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def record_keys(records: StepRecords, job_ids: npt.NDArray[np.int64]) -> U64:
    """One key per record; ``job_ids`` maps the records' job index to a stable id."""
    with np.errstate(over="ignore"):
        job = job_ids[records.job].astype(np.uint64)
        k = _mix(job * _GOLDEN + records.rank.astype(np.int64).view(np.uint64))
        k = _mix(k ^ records.step.view(np.uint64))
        return _mix(k ^ np.ascontiguousarray(records.ts).view(np.uint64))


class SeenKeys:
    """A bounded set of record keys (see the module's docstring).

    Args:
        generation_keys: keys per generation.
        generations: generations kept.
        merge_keys: keys of recent batches kept as small sorted runs before
            they are merged into the young array (fewer large copies).
    """

    def __init__(self, generation_keys: int = 1 << 20, generations: int = 4,
                 merge_keys: int = 1 << 16) -> None:
        self.generation_keys = generation_keys
        self.generations = generations
        self.merge_keys = merge_keys
        self._old: list[U64] = []
        self._young: U64 = np.zeros(0, np.uint64)
        self._runs: list[U64] = []
        self._runs_keys = 0

    def __len__(self) -> int:
        return len(self._young) + self._runs_keys + sum(len(g) for g in self._old)

    def fresh(self, keys: U64) -> npt.NDArray[np.bool_]:
        """True for keys seen neither before nor earlier in ``keys`` itself."""
        out = np.zeros(len(keys), bool)
        if not len(keys):
            return out
        uniq, first = np.unique(keys, return_index=True)  # sorted: cache-friendly searches
        seen = np.zeros(len(uniq), bool)
        for arr in (*self._runs, self._young, *self._old):
            seen |= _member(arr, uniq)
        out[first[~seen]] = True
        return out

    def add(self, keys: U64) -> None:
        """Remember ``keys`` (assumed fresh)."""
        if not len(keys):
            return
        self._runs.append(np.sort(keys))
        self._runs_keys += len(keys)
        if self._runs_keys < self.merge_keys:
            return
        merged = np.concatenate([self._young, *self._runs])
        self._young = np.sort(merged, kind="stable")  # sorted runs: merged, not re-sorted
        self._runs, self._runs_keys = [], 0
        if len(self._young) >= self.generation_keys:
            self._old.insert(0, self._young)
            self._young = np.zeros(0, np.uint64)
            del self._old[self.generations - 1:]


def _member(sorted_keys: U64, keys: U64) -> npt.NDArray[np.bool_]:
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    at = np.searchsorted(sorted_keys, keys)
    at[at == len(sorted_keys)] = 0
    found: npt.NDArray[np.bool_] = sorted_keys[at] == keys
    return found
