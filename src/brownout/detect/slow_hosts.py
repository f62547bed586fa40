"""Slow hosts from step records: most of a node's ranks slow together.

A node's level is what more than half of its ranks pass (a host slows all
of its ranks; one slow GPU moves one). It is slow when that level passes the
peers bar (``abs_excess``, widened by the ranks' noise over the square root
of their count and by their stage peers' healthy spread), or its own bar
(``node_self_excess`` above the ranks' own baselines while ``min_rel`` above
their peers), with at least two ranks and ``node_fraction`` of them
elevated, for ``persist_s``. A node whose ranks are each found slow already
is named at once. Used by :class:`~brownout.detect.stragglers.StragglerDetector`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from brownout.detect.robust import group_median, kth_largest

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


class SlowHosts:
    """Nodes slow as a whole, judged at each of the straggler detector's judgments.

    Attributes:
        since: (job, node) -> data time its ranks began to be slow together (the
            spell is kept while nothing says either way, as a rank's is).
    """

    def __init__(self, *, abs_excess: float, node_self_excess: float, min_rel: float,
                 node_fraction: float, persist_s: float) -> None:
        self.abs_excess = abs_excess
        self.node_self_excess = node_self_excess
        self.min_rel = min_rel
        self.node_fraction = node_fraction
        self.persist_s = persist_s
        self.since: dict[tuple[int, int], float] = {}

    def judge(self, t_s: float, lv: dict[str, Any], node_ranks: I64, enough: B,
              widen: tuple[F64, F64], *, rise: F64, established: B
              ) -> dict[int, tuple[float, float, int]]:
        """Nodes most of whose ranks are slow together: node -> (since, excess, slow ranks).

        ``lv`` is the detector's per-rank level table of this judgment (it gains
        ``pending``: nodes that may become host stragglers, whose ranks are not
        named alone yet); ``node_ranks`` the ranks seen on each node; ``enough``
        the ranks whose levels count; ``widen`` each rank's (noise term, spread
        term): a node's ranks taken together are less noisy by the square root
        of their count.
        """
        node, rel = lv["node"], lv["rel"]
        gkey = (lv["job"] << 32) + node
        groups, gidx = np.unique(gkey, return_inverse=True)
        ng = groups.size
        count = np.maximum(np.bincount(gidx, minlength=ng),
                           node_ranks[(groups & 0xFFFFFFFF).astype(np.int64)])
        most = count // 2 + 1  # the node's level: what more than half of its ranks pass
        node_rel = kth_largest(np.where(enough | lv["ready"], rel, -np.inf), gidx, most)
        node_rise = kth_largest(np.where(established & enough, rise, -np.inf), gidx, most)
        extra = group_median(widen[0], gidx, ng)[0] / np.sqrt(np.maximum(count, 1))
        bar = np.maximum(np.maximum(extra, self.abs_excess), group_median(widen[1], gidx, ng)[0])
        own_bar = np.maximum(extra, self.node_self_excess)
        elevated = np.bincount(gidx, enough & (rel >= self.min_rel), ng)
        slow = (elevated >= 2) & (elevated >= self.node_fraction * count) & (
            (node_rel >= bar) | ((node_rise >= own_bar) & (node_rel >= self.min_rel)))
        out: dict[int, tuple[float, float, int]] = {}
        pending: set[int] = set()
        n_ready = np.bincount(gidx, lv["ready"], ng)
        n_slow = np.bincount(gidx, lv["slow"] | (lv["evidence"] >= 0.5), ng)  # or turning
        first = np.full(ng, np.inf)
        np.minimum.at(first, gidx, np.where(lv["ready"], lv["since"], np.inf))
        known = np.bincount(gidx, enough, ng) >= 2
        back_s = np.minimum(group_median(lv["span_s"], gidx, ng)[0], self.persist_s) / 2.0
        for g in range(ng):
            key = (int(groups[g] >> 32), int(groups[g] & 0xFFFFFFFF))
            if (n_ready[g] >= 2) and n_ready[g] >= self.node_fraction * count[g]:
                out[key[1]] = (float(first[g]), float(node_rel[g]), int(n_ready[g]))
                continue  # its ranks are slow, each persistently
            if n_slow[g] >= 2 and n_slow[g] >= self.node_fraction * count[g]:
                pending.add(key[1])  # may become a host straggler: no rank findings yet
            if not slow[g]:
                if known[g]:  # no evidence either way: the spell is kept (see _persist)
                    self.since.pop(key, None)
                continue
            since = self.since.setdefault(key, t_s - back_s[g])  # as _persist
            if t_s - since >= self.persist_s:
                out[key[1]] = (since, float(node_rel[g]), int(elevated[g]))
            else:
                pending.add(key[1])
        lv["pending"] = pending
        return out
