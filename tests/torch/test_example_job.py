"""The README's smoke job (examples/torch/gloo_job.py) does what the README says.

Run under torchrun as the README shows, with the hook writing step files
(no ``BROWNOUT_URL``) and the Flight Recorder variables set: every rank
writes its steps, its node is the one ``--nodes`` names, and when rank 1
skips the last all-reduce every rank writes its dump under
``TORCH_FR_DUMP_TEMP_FILE``, from which ``brownout detect`` names rank 1 at
its GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brownout.cli.main import main
from brownout.findings import read_findings
from brownout.topology.generate import generate_topology
from brownout.topology.loader import write_topology

pytest.importorskip("torch.distributed")
pytestmark = pytest.mark.slow  # torchrun and three torch processes

JOB = Path(__file__).resolve().parents[2] / "examples" / "torch" / "gloo_job.py"


def test_the_example_job_logs_its_steps_and_dumps_on_a_hang(tmp_path: Path) -> None:
    topo = generate_topology(2, gpus_per_node=2)
    write_topology(topo, tmp_path / "topology.yaml")
    names = ",".join(n.name for n in topo.nodes)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROWNOUT_")}
    env.update(TORCH_FR_BUFFER_SIZE="2000", TORCH_NCCL_DUMP_ON_TIMEOUT="1",
               TORCH_FR_DUMP_TEMP_FILE=str(tmp_path / "fr" / "smoke_"))
    (tmp_path / "fr").mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "3",
           "--standalone", str(JOB), "--steps", "6", "--work-s", "0.05",
           "--hang-rank", "1", "--hang-wait", "2", "--nodes", names, "--ranks-per-node", "2",
           "--step-file", str(tmp_path / "steps-{rank}.jsonl")]
    run = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, timeout=180,
                         check=False)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    lines = [json.loads(ln) for r in range(3)
             for ln in (tmp_path / f"steps-{r}.jsonl").read_text().splitlines()]
    assert sorted({(x["rank"], x["node"]) for x in lines}) == [
        (0, topo.nodes[0].name), (1, topo.nodes[0].name), (2, topo.nodes[1].name)]
    assert {x["step"] for x in lines} == set(range(5))  # the hung last step wrote nothing
    assert sorted(p.name for p in (tmp_path / "fr").iterdir()) == [
        "smoke_0", "smoke_1", "smoke_2"]
    steps = tmp_path / "steps.jsonl"
    steps.write_text("".join(json.dumps(x) + "\n" for x in sorted(lines, key=lambda x: x["ts"])))
    assert main(["detect", "--topology", str(tmp_path / "topology.yaml"), "--steps",
                 str(steps), "--flight-recorder", str(tmp_path / "fr"), "--out",
                 str(tmp_path / "f.json"), "-q"]) == 0
    hangs = [f for f in read_findings(tmp_path / "f.json").findings if f.kind == "rank_hang"]
    assert [(f.component, f.evidence["waiting_ranks"]) for f in hangs] == [
        (f"{topo.nodes[0].name}/gpu1", [0, 2])]
