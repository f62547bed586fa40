"""Time to detect, end to end on real components, repeated: medians.

    python benchmarks/e2e_real_job.py            # 3 runs
    python benchmarks/e2e_real_job.py --runs 5

Each run is the story of ``tests/integration/test_real_job_e2e.py`` (see
``tests/integration/e2e_harness.py``): a 4-rank gloo job (CPU torch) pushing
its steps through ``brownout.torch`` to ``brownout watch``, which reads the
live twin through a real Prometheus and drains through the real slurmctld
(``.ci/slurm/setup.sh``, as root), in approval mode. Printed per run and as
medians:

* ``slow->finding``: the slowed rank (40 %) started -> a finding naming its node/GPU;
* ``approve->drain``: the approval POST -> slurmctld shows the node drained;
* ``kill->back``: SIGKILL of ``watch`` -> the restarted one answers;
* ``hang->seen``: the job's last record -> ``job_stalled`` / ``rank_hang``,
  against the issue's bound ``2 x step + the detector's hang timeout``;
* records written / lost (the hook's drops and failures) and duplicated
  findings or actions after the restart.

Needs torch, Prometheus and a running slurmctld; each run takes ~2-3 minutes.
"""

from __future__ import annotations

import argparse
import collections
import math
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from integration.e2e_harness import Result, run_e2e, slurm_ready  # noqa: E402


def _dups(res: Result) -> int:
    keys = collections.Counter(a["key"] for a in res.actions_after)
    ids = collections.Counter(f["id"] for f in res.findings_after)
    return sum(n - 1 for n in [*keys.values(), *ids.values()])


def _row(i: int, r: Result) -> dict[str, float]:
    row = {"slow->finding": r.finding_after_s, "approve->drain": r.drain_after_s,
           "kill->back": r.restart_ready_s, "hang->seen": r.hang_after_s,
           "bound (2 x step + timeout)": (2 * r.step_s + r.hang_timeout_s)
           if r.hang_timeout_s else None}
    lost = r.pusher.get("dropped", 0) + r.pusher.get("failed", 0) + r.pusher.get("pending", 0)
    print(f"run {i}: step {r.step_s:.2f} s, " + ", ".join(
        f"{k} {v:.1f} s" if v is not None else f"{k} -" for k, v in row.items())
        + f"; records {len(r.written)}, lost {lost}, duplicates {_dups(r)}; "
        + f"finding {r.finding and r.finding['kind']} at "
        + f"{r.finding and r.finding['component']}; hang {r.hang and r.hang['kind']}",
        flush=True)
    return {k: v if v is not None else math.nan for k, v in row.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    why = slurm_ready()
    if why:
        print(f"cannot run: {why}")
        return 2
    rows = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="brownout-e2e-") as tmp:
            rows.append(_row(i, run_e2e(Path(tmp))))
    print("median over", len(rows), "runs:", ", ".join(
        f"{k} {statistics.median(r[k] for r in rows):.1f} s" for k in rows[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
