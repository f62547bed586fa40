"""A real hang on real torch.distributed (gloo, CPU), read from its Flight Recorder dumps.

Four processes all-reduce; rank 2 skips the sixth all-reduce while the others
wait in it. Each rank writes the dump PyTorch's watchdog writes on a timeout.
brownout must name rank 2 (never joined), the group, the op and the waiting
ranks, and place it on its GPU from the job's step records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from brownout.cli.main import main
from brownout.detect.collectives import NEVER_JOINED, analyse
from brownout.findings import read_findings
from brownout.telemetry.flight_recorder import read_dump_dir
from brownout.topology.generate import generate_topology
from brownout.topology.loader import to_dict

pytest.importorskip("torch.distributed")  # skip cleanly where torch is absent
pytestmark = pytest.mark.slow  # four torch processes: seconds on a quiet machine, more when busy

HUNG = 2
JOB = Path(__file__).with_name("fr_gloo_job.py")


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fr")
    env = {**os.environ, "TORCH_FR_BUFFER_SIZE": "2000"}
    procs = [subprocess.Popen([sys.executable, str(JOB), str(r), "4", str(out), str(HUNG)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for r in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
    (out / "store").unlink(missing_ok=True)
    return out


def test_the_rank_that_never_joined_is_named(dumps: Path) -> None:
    (ds,) = read_dump_dir(dumps)
    (stuck,) = analyse(ds).stuck
    assert (stuck.rank, stuck.how) == (HUNG, NEVER_JOINED)
    assert stuck.op == "gloo:all_reduce" and stuck.collective_seq_id == 6
    assert stuck.waiting_ranks == (0, 1, 3) and stuck.pg_desc == "default_pg"


def test_detect_places_it_on_its_gpu(dumps: Path, tmp_path: Path) -> None:
    topo = generate_topology(4, gpus_per_node=1)
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(to_dict(topo)))
    rows = [{"ts": 1.0e9 + s, "job": "tiny", "step": s, "rank": r, "node": f"n{r + 1:04d}",
             "gpu": 0, "compute_s": 0.5, "comm_s": 0.1} for s in range(5) for r in range(4)]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "f.json"
    assert main(["detect", "--topology", str(tmp_path / "t.yaml"), "--steps",
                 str(tmp_path / "s.jsonl"), "--flight-recorder", str(dumps), "--out", str(out),
                 "-q"]) == 0
    (f,) = [f for f in read_findings(out).findings if f.kind == "rank_hang"]
    assert f.component == "n0003/gpu0" and f.evidence["waiting_ranks"] == [0, 1, 3]
