"""Sweeps: the grid, aggregation, and the same runs on a real Dask LocalCluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brownout.cli.main import main
from brownout.errors import InputError
from brownout.sweep.grid import RunSpec, Variant, build_grid, fresh_seeds, load_variants
from brownout.sweep.report import aggregate, svg_bars
from brownout.sweep.runner import run_dask, run_serial


def _fake_task(spec: RunSpec) -> dict:
    """A cheap deterministic stand-in for simulate+detect+score (tests the plumbing)."""
    if spec.seed == 13:
        raise RuntimeError("boom")
    x = (spec.seed % 7) / 7
    return {"scenario": spec.scenario, "seed": spec.seed, "variant": spec.variant.name,
            "truth": 2, "matched": 2, "false": 0, "precision": 1.0, "recall": x, "f1": x,
            "ttd_median_s": 30.0 * spec.variant.engine.get("tick_s", 15), "ettr": 0.9}


def test_grid_is_the_full_product_and_seeds_are_fresh() -> None:
    v = [Variant("a"), Variant("b", {"tick_s": 30})]
    grid = build_grid(["s1", "s2"], [1, 2, 3], v)
    assert len(grid) == 12
    assert {(g.scenario, g.seed, g.variant.name) for g in grid} == {
        (s, n, x) for s in ("s1", "s2") for n in (1, 2, 3) for x in ("a", "b")}
    assert fresh_seeds(4) != fresh_seeds(4)
    with pytest.raises(InputError):
        build_grid([], [1], v)


def test_failed_runs_are_recorded_not_dropped() -> None:
    specs = build_grid(["s"], [13, 14], [Variant("a")])
    rows = list(run_serial(specs, _fake_task))
    assert len(rows) == 2
    assert sum("error" in r for r in rows) == 1
    table = aggregate(rows)
    assert table["a"]["runs"] == 2 and table["a"]["errors"] == 1
    assert "<svg" in svg_bars(table)


def test_variants_file_errors_name_the_file(tmp_path: Path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text("- {name: fast, engine: {tick_s: 5}}\n- {name: x, bogus: 1}\n")
    with pytest.raises(InputError, match=r"v\.yaml: variant x: unknown field\(s\) bogus"):
        load_variants(str(f))
    f.write_text("- {name: fast, engine: {tick_s: 5}, scenario: {cluster: {nodes: 8}}}\n")
    assert load_variants(str(f))[0].scenario == {"cluster": {"nodes": 8}}


def test_dask_local_cluster_gives_the_same_results_as_serial() -> None:
    distributed = pytest.importorskip("distributed")
    specs = build_grid(["s1", "s2"], [1, 2, 3, 13], [Variant("a"), Variant("b", {"tick_s": 5})])
    serial = sorted(run_serial(specs, _fake_task), key=json.dumps)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = sorted(run_dask(specs, client, _fake_task), key=json.dumps)
    strip = [{k: v for k, v in r.items() if k != "trace"} for r in on_dask]
    assert strip == [{k: v for k, v in r.items() if k != "trace"} for r in serial]


def test_sweep_cli_runs_real_simulations(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    code = main(["sweep", "--scenario", "gpu_failed", "--seeds", "1", "--serial",
                 "--out", str(out), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["default"]["runs"] == 1 and summary["default"]["errors"] == 0
    assert summary["default"]["truth"] >= 1
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert rows[0]["gpus"] > 0 and 0 <= rows[0]["recall"] <= 1
    assert (out / "plot.svg").read_text().startswith("<svg")
