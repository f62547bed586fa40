"""Placement preferences for real schedulers: Slurm node weights, Kubernetes labels.

Slurm allocates the lowest ``Weight`` first, so a high score becomes a low
weight; nodes that must not be used get :data:`AVOID_WEIGHT` (draining them
is the policy's job, through its guardrails, not the exporter's). The output
is text for ``scontrol`` (one line per distinct weight) and a label map for
the Kubernetes adapter to apply; nothing here talks to a scheduler.
"""

from __future__ import annotations

import numpy as np

from brownout.recovery.placement import ClusterView, PlacementConfig, hot_domains, node_scores

AVOID_WEIGHT = 1000
LABEL_PREFIX = "brownout.io/"


def slurm_weights(view: ClusterView, config: PlacementConfig | None = None) -> dict[str, int]:
    """Node name -> Slurm ``Weight`` (1 best .. 100; :data:`AVOID_WEIGHT` never)."""
    scores = node_scores(view, config)
    names = [n.name for n in view.topology.nodes]
    weights = np.where(scores > 0, np.clip(101 - np.round(scores), 1, 100), AVOID_WEIGHT)
    return {name: int(w) for name, w in zip(names, weights, strict=True)}


def slurm_lines(view: ClusterView, config: PlacementConfig | None = None) -> list[str]:
    """``scontrol update NodeName=a,b Weight=N`` lines, one per distinct weight."""
    by_weight: dict[int, list[str]] = {}
    for name, w in slurm_weights(view, config).items():
        by_weight.setdefault(w, []).append(name)
    return [f"scontrol update NodeName={','.join(names)} Weight={w}"
            for w, names in sorted(by_weight.items())]


def k8s_labels(view: ClusterView, config: PlacementConfig | None = None
               ) -> dict[str, dict[str, str]]:
    """Node name -> labels (score, health, thermal, leaf, cooling domain).

    Values follow the Kubernetes label syntax (at most 63 characters of
    ``[A-Za-z0-9._-]``), so pods can prefer nodes with node affinity on
    ``brownout.io/score`` or avoid ``brownout.io/thermal=hot``.
    """
    cfg = config or PlacementConfig()
    topo = view.topology
    scores = node_scores(view, cfg)
    hot = hot_domains(view, cfg)[topo.node_cooling]
    out: dict[str, dict[str, str]] = {}
    for i, node in enumerate(topo.nodes):
        out[node.name] = {
            f"{LABEL_PREFIX}score": f"{scores[i]:.0f}",
            f"{LABEL_PREFIX}health": view.state[i].replace("_", "-"),
            f"{LABEL_PREFIX}thermal": "hot" if hot[i] else "ok",
            f"{LABEL_PREFIX}leaf": _label_value(node.leaf),
            f"{LABEL_PREFIX}cooling": _label_value(node.cooling),
        }
    return out


def _label_value(text: str) -> str:
    clean = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)[:63]
    return clean.strip("._-") or "unknown"
