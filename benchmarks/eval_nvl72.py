"""NVL72 quality bars of issue 15 (docs/goodput.md section 5): one command, fresh seeds.

    python benchmarks/eval_nvl72.py [--seeds 20] [--first-seed 1000] [--mixes 2000]

1. Evaluation: for ``nvl72`` and ``nvl72-full`` under both baselines (``blind``:
   first free tray; ``block``: Slurm topology/block segments), the mean ETTR of
   baseline, brownout and oracle over fresh seeds, the share of the
   baseline-to-oracle gap brownout closes (of the means, and the worst seed),
   brownout's recovery choices, and the most groups ever split over two domains.
   A sweep of the pinned ``cross_domain_slowdown`` and ``transient_share``
   shows what the numbers depend on.
2. Placement: random job mixes (tensor x expert parallel groups of 1..64 GPUs)
   on a random 12-rack NVL72 fleet (random busy, suspect and out-of-service
   trays): NVLink-bound groups split over two domains by
   :func:`~brownout.recovery.domains.place_groups` (the bar: 0) against
   :func:`~brownout.recovery.placement.first_fit` on the same mixes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from brownout.loop.coarse_eval import POLICIES
from brownout.loop.nvl72_eval import run_rack_scale
from brownout.loop.nvl72_scenario import RackScaleScenario, find_rack_scale
from brownout.recovery.domains import JobShape, groups_spanning, place_groups
from brownout.recovery.placement import ClusterView, first_fit
from brownout.topology.rack_scale import rack_scale_topology

STATES = ("healthy",) * 6 + ("suspect", "quarantined", "in_repair", "returned")


def _gap(base: float, brown: float, oracle: float) -> float:
    return (brown - base) / (oracle - base) if oracle - base > 1e-9 else 1.0


def evaluation(sc: RackScaleScenario, seeds: list[int]) -> dict[str, float]:
    runs = {p: [run_rack_scale(sc, p, s) for s in seeds] for p in POLICIES}
    mean = {p: float(np.mean([r.ettr for r in rs])) for p, rs in runs.items()}
    per_seed = [_gap(b.ettr, m.ettr, o.ettr) for b, m, o in
                zip(runs["baseline"], runs["brownout"], runs["oracle"], strict=True)]
    choices: dict[str, int] = {}
    for r in runs["brownout"]:
        for k in ("reform", "shrink", "move", "wait", "nvswitch_moves"):
            choices[k] = choices.get(k, 0) + r.counts[k]
    split = {p: max(r.max_split_groups for r in rs) for p, rs in runs.items()}
    print(f"| {sc.name} | {sc.baseline_placement} | {mean['baseline']:.4f} |"
          f" {mean['brownout']:.4f} | {mean['oracle']:.4f} |"
          f" {100 * _gap(mean['baseline'], mean['brownout'], mean['oracle']):.1f}% |"
          f" {100 * min(per_seed):.1f}% | {choices} | {split['baseline']}/{split['brownout']}"
          f"/{split['oracle']} |")
    return mean


def placement(mixes: int, seed0: int) -> None:
    topo = rack_scale_topology(12)
    dom = np.repeat(np.arange(12), 18)
    split = {"brownout": 0, "first_fit": 0}
    groups = {"brownout": 0, "first_fit": 0}
    refused_with_room = 0
    t0 = time.perf_counter()
    for m in range(mixes):
        rng = np.random.default_rng(seed0 + m)
        state = tuple(STATES[i] for i in rng.integers(0, len(STATES), topo.n_nodes))
        free0 = rng.random(topo.n_nodes) > rng.uniform(0.0, 0.4)
        free = {"brownout": free0.copy(), "first_fit": free0.copy()}
        for _ in range(int(rng.integers(1, 10))):
            tp, ep = int(rng.choice([1, 2, 4, 8])), int(rng.choice([1, 2, 4, 8, 16]))
            shape = JobShape("j", int(rng.integers(1, 7)) * max(1, -(-tp * ep // 4)), tp, ep)
            g = shape.group_nodes(4)
            view = ClusterView(topo, free["brownout"], state, np.full(12, 40.0))
            placed = place_groups(shape, view)
            usable = free["brownout"] & np.array([s in ("healthy", "returned", "suspect")
                                                  for s in state])
            room = sum(int(usable[dom == d].sum()) // g for d in range(12))
            refused_with_room += int(placed is None and room >= shape.groups(4))
            if placed is not None:
                split["brownout"] += groups_spanning(placed.groups, topo)
                groups["brownout"] += len(placed.groups)
                free["brownout"][list(placed.nodes)] = False
            ff = first_fit(shape.nodes, ClusterView(topo, free["first_fit"], state,
                                                    np.full(12, 40.0)))
            if ff is not None:
                grp = tuple(ff.nodes[i:i + g] for i in range(0, len(ff.nodes), g))
                split["first_fit"] += groups_spanning(grp, topo)
                groups["first_fit"] += len(grp)
                free["first_fit"][list(ff.nodes)] = False
    dt = time.perf_counter() - t0
    print(f"\n## Placement: {mixes} random job mixes on 12 NVL72 racks ({dt:.1f} s)")
    print("| placer | groups placed | groups split over two domains | share |")
    print("| --- | --- | --- | --- |")
    for k in ("brownout", "first_fit"):
        print(f"| {k} | {groups[k]} | {split[k]} | {split[k] / max(groups[k], 1):.3f} |")
    print(f"jobs refused although the domains had room: {refused_with_room}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--mixes", type=int, default=2000)
    a = ap.parse_args()
    seeds = list(range(a.first_seed, a.first_seed + a.seeds))
    print(f"## NVL72 evaluation: mean ETTR over {len(seeds)} fresh seeds "
          f"({seeds[0]}..{seeds[-1]}), 30 days each")
    print("| scenario | baseline placement | baseline | brownout | oracle | gap closed |"
          " worst seed | brownout's choices (sum) | most split groups b/m/o |")
    print("|" + " --- |" * 9)
    for name in ("nvl72", "nvl72-full"):
        sc = find_rack_scale(name)
        assert sc is not None
        for base in ("blind", "block"):
            evaluation(replace(sc, baseline_placement=base), seeds)
    print("\n## Sensitivity (nvl72-full, first 8 seeds)")
    print("| scenario | baseline placement | baseline | brownout | oracle | gap closed |"
          " worst seed | brownout's choices (sum) | most split groups b/m/o |")
    print("|" + " --- |" * 9)
    full = find_rack_scale("nvl72-full")
    assert full is not None
    for cross in (1.3, 3.0):
        costs = {**full.costs, "cross_domain_slowdown": cross}
        evaluation(replace(full, name=f"cross={cross}", costs=costs,
                           baseline_placement="blind"), seeds[:8])
    for share in (0.0, 0.8):
        evaluation(replace(full, name=f"transient={share}", transient_share=share,
                           baseline_placement="block"), seeds[:8])
    placement(a.mixes, a.first_seed)


if __name__ == "__main__":
    main()
