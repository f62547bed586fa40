"""Child process of the kill -9 test: one controller step against a durable fake executor.

Usage: python kill_child.py JOURNAL EFFECTS FINDINGS N_NODES DELAY_S
Prints ``ready`` once imports and setup are done, then decides and executes.
Time is fixed (ManualClock) so every restart sees the same decision time.
"""

from __future__ import annotations

import sys

from brownout.clock import ManualClock
from brownout.executors.fake import FakeExecutor
from brownout.findings import read_findings
from brownout.policy.config import PolicyConfig
from brownout.policy.controller import Controller
from brownout.policy.journal import Journal
from brownout.topology.generate import generate_topology

# generous limits: the test is about crash safety, not blast radius
CONFIG = PolicyConfig(max_fleet_fraction=1.0, max_group_fraction=1.0, rate_max_actions=10_000,
                      cooldown_s=0.0, breaker_anomaly_fraction=1.0, breaker_blind_fraction=1.0)


def main() -> int:
    journal_path, effects_path, findings_path, n_nodes, delay_s = sys.argv[1:6]
    topo = generate_topology(int(n_nodes))
    ff = read_findings(findings_path)
    ctl = Controller(topo, FakeExecutor(effects_path, delay_s=float(delay_s)),
                     Journal(journal_path, "fake"), CONFIG, ManualClock(1_000_000.0))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    report = ctl.step(ff.findings, ff.notices)
    sys.stdout.write(f"done {len(report.actions)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
