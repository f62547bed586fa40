"""Every file parser under Hypothesis: bad input gets a clear error, never a crash.

The only exceptions allowed out of a parser are brownout's own input errors,
and their message names the file. Case counts are reported in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brownout.errors import InputError
from brownout.findings import read_findings, read_truth
from brownout.telemetry.problems import Problems
from brownout.telemetry.steps import read_steps
from brownout.topology.generate import generate_topology
from brownout.topology.hostlist import expand
from brownout.topology.loader import from_dict, load_topology
from brownout.topology.slurm_conf import import_slurm_topology

SCALE = int(os.environ.get("BROWNOUT_FUZZ_SCALE", "1"))  # deep runs: docs/reliability.md
FUZZ = settings(max_examples=200 * SCALE, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
_json = st.recursive(_json_leaf, lambda c: st.one_of(st.lists(c, max_size=4),
                                                      st.dictionaries(st.text(max_size=6), c,
                                                                      max_size=5)),
                     max_leaves=12)


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@FUZZ
@given(st.binary(max_size=600))
def test_step_log_bytes(tmp_path: Path, data: bytes) -> None:
    problems = Problems()
    try:
        steps = read_steps(_file(tmp_path, "s.jsonl", data), generate_topology(2), problems)
    except InputError as exc:
        assert "s.jsonl" in str(exc)
        return
    assert len(steps) + problems.malformed_count <= data.count(b"\n") + 1


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(["ts", "job", "step", "rank", "node", "gpu",
                                                 "compute_s", "comm_s", "stage"]), _json_leaf),
                max_size=8))
def test_step_log_rows(tmp_path: Path, rows: list) -> None:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    problems = Problems()
    steps = read_steps(_file(tmp_path, "s.jsonl", text.encode()), generate_topology(2), problems)
    assert len(steps) + problems.malformed_count == len(rows)
    assert (steps.compute_s >= 0).all() and (steps.comm_s >= 0).all()


@FUZZ
@given(_json)
def test_topology_documents(doc) -> None:
    try:
        topo = from_dict(doc, "t.yaml")
    except InputError as exc:
        assert str(exc).startswith("t.yaml: ")
        return
    assert topo.n_nodes >= 1


@FUZZ
@given(st.text(max_size=300))
def test_topology_yaml_text(tmp_path: Path, text: str) -> None:
    path = _file(tmp_path, "t.yaml", text.encode("utf-8", "surrogatepass"))
    with pytest.raises(InputError, match=r"t\.yaml"):
        load_topology(path)


_conf_line = st.one_of(
    st.builds(lambda n, h: f"SwitchName={n} Nodes={h}",
              st.from_regex(r"s[0-9]{1,2}", fullmatch=True),
              st.from_regex(r"n\[[0-9]{1,2}-[0-9]{1,2}\]|n[0-9]", fullmatch=True)),
    st.builds(lambda n, h: f"SwitchName={n} Switches={h}",
              st.from_regex(r"s[0-9]{1,2}", fullmatch=True),
              st.from_regex(r"s\[[0-9]-[0-9]\]", fullmatch=True)),
    st.text(max_size=30))


@FUZZ
@given(st.lists(_conf_line, max_size=6))
def test_slurm_topology_conf(tmp_path: Path, lines: list[str]) -> None:
    path = _file(tmp_path, "topology.conf", "\n".join(lines).encode("utf-8", "surrogatepass"))
    try:
        topo = import_slurm_topology(path)
    except InputError as exc:
        assert "topology.conf" in str(exc)
        return
    assert all(n.leaf for n in topo.nodes)


@FUZZ
@given(st.text(alphabet="n[]0123456789-,ab", max_size=25))
def test_hostlists(expr: str) -> None:
    try:
        names = expand(expr)
    except InputError as exc:
        assert expr[:10] in str(exc) or "hostlist" in str(exc)
        return
    assert all(names)


@FUZZ
@given(_json)
def test_findings_files(tmp_path: Path, doc) -> None:
    body = {"format": "brownout.findings", "version": 1, "findings": doc}
    for payload in (doc, body):
        path = _file(tmp_path, "f.json", json.dumps(payload).encode())
        try:
            ff = read_findings(path)
        except InputError as exc:
            assert "f.json" in str(exc)
            continue
        assert all(f.kind for f in ff.findings)


@FUZZ
@given(st.lists(st.one_of(_json, st.text(max_size=20)), max_size=5))
def test_truth_files(tmp_path: Path, rows: list) -> None:
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows)
    path = _file(tmp_path, "truth.jsonl", text.encode("utf-8", "surrogatepass"))
    try:
        faults = read_truth(path)
    except InputError as exc:
        assert "truth.jsonl" in str(exc)
        return
    assert len(faults) <= len(rows)


def test_yaml_bombs_are_refused_quickly(tmp_path: Path) -> None:
    """Billion-laughs style aliases are not expanded into memory by safe_load users."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    path = _file(tmp_path, "t.yaml", bomb.encode())
    with pytest.raises(InputError, match=r"t\.yaml"):
        load_topology(path)
    assert yaml.safe_load(bomb)  # aliases are shared references, so this stays small


def test_label_explosion_maps_to_one_series_with_bounded_caches(tmp_path: Path,
                                                                monkeypatch) -> None:
    """Distinct label sets (an exploding pod label) of one GPU stay one series."""
    from brownout.telemetry import parse, series
    from brownout.telemetry.series import SeriesRegistry
    from brownout.telemetry.sources.files import read_recording

    monkeypatch.setattr(series, "MAX_KEY_CACHE", 1000)
    monkeypatch.setattr(parse, "MAX_KEY_CACHE", 1000)
    n = 20_000
    lines = [f'DCGM_FI_DEV_GPU_TEMP{{gpu="1",Hostname="n0001",pod="p{i}"}} 50 {1_700_000_000 + i}'
             for i in range(n)]
    lines += [f'unknown_metric{{x="{i}",Hostname="n0001"}} 1 {1_700_000_000 + i}'
              for i in range(n)]
    rec = _file(tmp_path, "x.om", ("\n".join(lines) + "\n# EOF\n").encode())
    reg = SeriesRegistry(generate_topology(1))
    frame, problems = read_recording([rec], reg)
    assert len(frame) == n and len(frame.table) == 1
    assert problems.malformed_count == 0
    assert len(reg._by_key) <= reg.key_cache_limit <= 1000 + 2 and reg.key_cache_resets >= 1


_ROW = {"ts": 1.0, "job": "j", "step": 1, "rank": 0, "compute_s": 1.0, "comm_s": 0.5}


@pytest.mark.parametrize(("extra", "kept"), [
    ({"rank": 2**31}, 0), ({"rank": -2**31 - 1}, 0), ({"step": 2**63}, 0), ({"gpu": 2**40}, 0),
    ({"stage": 2**31}, 0), ({"stage": "1"}, 0), ({"stage": None}, 1), ({"rank": 2**31 - 1}, 1),
])
def test_step_rows_found_by_the_deep_run(tmp_path: Path, extra: dict, kept: int) -> None:
    """Found by the deep fuzz run: int32 overflow and ``"stage": null`` crashed the reader."""
    problems = Problems()
    path = _file(tmp_path, "s.jsonl", (json.dumps({**_ROW, **extra}) + "\n").encode())
    steps = read_steps(path, generate_topology(2), problems)
    assert len(steps) == kept and problems.malformed_count == 1 - kept
    if kept and "stage" in extra:
        assert steps.stage.tolist() == [-1]
