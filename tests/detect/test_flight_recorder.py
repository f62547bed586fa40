"""Flight Recorder dumps: the real NVRx hangs (tests/fixtures/flight_recorder), end to end.

Every injected rank is named and no other, in all four cases, including the
rank NVIDIA's own reference output misses (gpu_error_1st rank 14, whose GPU
stopped finishing collectives while its CPU kept enqueueing them).
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from brownout.cli.main import main
from brownout.detect.collectives import NEVER_FINISHED, NO_DUMP, analyse
from brownout.findings import read_findings
from brownout.telemetry.flight_recorder import read_dump, read_dump_dir
from brownout.topology.generate import generate_topology
from brownout.topology.loader import to_dict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "flight_recorder"
CASES = ("gpu_error_1st", "gpu_error_2nd", "lock_gil_1st", "lock_gil_2nd")


def injected(case: str) -> set[int]:
    log = (FIXTURES / "fr_traces" / case / "fault_injection.log").read_text()
    return {int(r) for r in re.findall(r"Rank (\d+), fault_type", log)}


def reference(case: str) -> set[int]:
    """The ranks NVRx's reference output names (its last column)."""
    lines = (FIXTURES / "reference_outputs" / f"{case}_reference.txt").read_text().splitlines()
    return {int(r) for line in lines[1:] for r in line.rsplit("|", 1)[1].split(",")}


@pytest.mark.parametrize("case", CASES)
def test_every_injected_rank_and_no_other(case: str) -> None:
    (ds,) = read_dump_dir(FIXTURES / "fr_traces" / case)
    assert len(ds.dumps) == 16
    report = analyse(ds)
    assert {s.rank for s in report.stuck} == injected(case)
    for s in report.stuck:
        assert s.waiting_ranks and not set(s.waiting_ranks) & injected(case)
        assert s.op.startswith("nccl:") and s.process_group in s.groups
        assert s.onset_s <= report.t_s


def test_the_rank_the_reference_misses_never_finished_what_it_enqueued() -> None:
    case = "gpu_error_1st"
    assert injected(case) - reference(case) == {14}
    (ds,) = read_dump_dir(FIXTURES / "fr_traces" / case)
    by_rank = {s.rank: s for s in analyse(ds).stuck}
    fourteen = by_rank[14]
    assert fourteen.hows == (NEVER_FINISHED,)  # enqueued as much as its peers
    assert fourteen.enqueued >= fourteen.collective_seq_id > fourteen.completed
    assert fourteen.completed < fourteen.peers_completed
    assert by_rank[12].collective_seq_id == fourteen.collective_seq_id  # the same wait


def _topology_and_steps(tmp_path: Path) -> tuple[Path, Path]:
    topo = generate_topology(2, gpus_per_node=8)
    topo_path = tmp_path / "topology.yaml"
    topo_path.write_text(yaml.safe_dump(to_dict(topo)))
    rows = [{"ts": 1758600000.0 + 10 * step, "job": "moe", "step": step, "rank": r,
             "node": topo.nodes[r // 8].name, "gpu": 7 - r % 8, "compute_s": 9.0,
             "comm_s": 1.0} for step in range(3) for r in range(16)]
    steps_path = tmp_path / "steps.jsonl"
    steps_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return topo_path, steps_path


def test_cli_places_ranks_where_the_step_records_put_them(tmp_path: Path) -> None:
    topo_path, steps_path = _topology_and_steps(tmp_path)
    out = tmp_path / "f.json"
    assert main(["detect", "--topology", str(topo_path), "--steps", str(steps_path),
                 "--flight-recorder", str(FIXTURES / "fr_traces" / "lock_gil_2nd"),
                 "--out", str(out), "-q"]) == 0
    hangs = [f for f in read_findings(out).findings if f.kind == "rank_hang"]
    assert {f.component for f in hangs} == {"n0002/gpu5", "n0002/gpu0"}  # ranks 10, 15
    for f in hangs:
        ev = f.evidence
        assert isinstance(ev["rank"], int) and ev["process_group"] in ("73", "74")
        assert ev["collective_seq_id"] == 20947 and ev["op"] == "nccl:all_to_all"
        assert ev["waiting_ranks"] and ev["job"] == "moe"
        assert f.component_type == "gpu" and f.recommended_action == "restart_job"


def test_cli_without_topology_names_ranks(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    assert main(["detect", "--flight-recorder", str(FIXTURES / "fr_traces" / "gpu_error_1st"),
                 "--out", str(out), "-q"]) == 0
    doc = read_findings(out)
    assert sorted(f.component for f in doc.findings) == ["rank12", "rank14"]
    assert {f.component_type for f in doc.findings} == {"rank"}


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x


def test_json_dumps_read_like_pickles(tmp_path: Path) -> None:
    src = FIXTURES / "fr_traces" / "gpu_error_2nd"
    for path in src.glob("_dump_*"):
        with path.open("rb") as fh:
            raw = pickle.load(fh)  # a checked-in fixture, to write its JSON twin
        raw["pg_config"] = {k: {**v, "ranks": json.loads(v["ranks"])}
                            for k, v in raw["pg_config"].items()}
        (tmp_path / path.name).write_text(json.dumps(_jsonable(raw)))
    (ds,) = read_dump_dir(tmp_path)
    assert {s.rank for s in analyse(ds).stuck} == injected("gpu_error_2nd")
    assert read_dump(tmp_path / "_dump_3").groups == read_dump(src / "_dump_3").groups


def test_a_rank_that_wrote_no_dump_is_named_when_all_its_peers_wait(tmp_path: Path) -> None:
    src = FIXTURES / "fr_traces" / "lock_gil_2nd"
    for path in src.glob("_dump_*"):
        if path.name != "_dump_15":
            shutil.copy(path, tmp_path / path.name)
    (ds,) = read_dump_dir(tmp_path)
    stuck = {s.rank: s for s in analyse(ds).stuck}
    assert set(stuck) == {10, 15}
    assert stuck[15].how == NO_DUMP and stuck[15].waiting_ranks == (12, 13, 14)


def test_a_hostile_dump_is_one_line_of_bad_input(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(FIXTURES / "fr_traces" / "lock_gil_1st", tmp_path / "d")
    (tmp_path / "d" / "_dump_3").write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    out = tmp_path / "f.json"
    assert main(["detect", "--flight-recorder", str(tmp_path / "d"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "_dump_3" in err and "GLOBAL" in err and "\n" not in err
    assert "Traceback" not in err and not out.exists()


def test_real_gloo_dumps_with_an_unnamed_default_group() -> None:
    (ds,) = read_dump_dir(FIXTURES / "gloo_torch_2.13")
    (stuck,) = analyse(ds).stuck
    assert (stuck.rank, stuck.how, stuck.process_group, stuck.pg_desc) == (
        2, "never_joined", "0", "default_pg")
    assert stuck.op == "gloo:all_reduce" and stuck.waiting_ranks == (0, 1, 3)


def test_a_completion_not_yet_seen_is_no_hang() -> None:
    # live gloo dumps taken 2 s after the hang: rank 1's watchdog had not yet seen
    # collective 5 complete (its counter 4, its peers' 5); one behind in one group
    (ds,) = read_dump_dir(FIXTURES / "gloo_torch_2.13_race")
    assert ds.dumps[1].groups["0"].completed == 4
    assert [(s.rank, s.how) for s in analyse(ds).stuck] == [(2, "never_joined")]
