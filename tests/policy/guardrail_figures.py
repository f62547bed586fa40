"""Figures for the guardrail property (not a test): python tests/policy/guardrail_figures.py [N].

Runs N random finding sequences (the same generator shape as the Hypothesis
property) through the controller with tight limits and reports how often each
rule refused, and the largest share of the fleet / of a rack ever out of
service against its limit.
"""

from __future__ import annotations

import random
import sys
from collections import Counter

from policy_factories import make_finding
from test_guardrails import KINDS, TIGHT, _check_limits, _component

from brownout.clock import ManualClock
from brownout.executors.fake import FakeExecutor
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.policy.states import OUT_OF_SERVICE
from brownout.topology.generate import generate_topology


def main(n_runs: int) -> None:
    rng = random.Random(7)
    topo = generate_topology(64)
    rules: Counter[str] = Counter()
    decided = steps = max_out = 0
    for run in range(n_runs):
        clock = ManualClock(1e6)
        journal = Journal(":memory:", "fake")
        ctl = Controller(topo, FakeExecutor(), journal, TIGHT, clock)
        for b in range(rng.randint(1, 10)):
            clock.advance(rng.randint(0, 1500))
            fs = tuple(make_finding(k, _component(k, rng.randint(1, 64)),
                                    rng.choice(["major", "critical"]), 0.9, clock.now(),
                                    {"xid": rng.choice([79, 119])} if rng.random() < .5 else {},
                                    fid=f"r{run}b{b}f{j}")
                       for j, k in enumerate(rng.choices(KINDS, k=rng.randint(0, 12))))
            report = ctl.step(fs)
            rules.update(r.rule for r in report.refused)
            _check_limits(topo, journal, TIGHT)
            out = sum(1 for s in journal.node_states().snapshot().values() if s in OUT_OF_SERVICE)
            max_out = max(max_out, out)
            steps += 1
        decided += len(journal.keys())
        journal.close()
    limit = max(1, int(TIGHT.max_fleet_fraction * topo.n_nodes))
    print(f"{n_runs} sequences, {steps} steps, {decided} actions decided, "
          f"refusals {dict(rules)}, max nodes out {max_out} (limit {limit}), violations 0")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
