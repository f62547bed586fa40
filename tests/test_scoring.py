"""spec/scoring.md, rule by rule, on hand-built cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brownout.cli.main import main
from brownout.findings import Finding, FindingsFile, TruthFault, write_findings, write_truth
from brownout.scoring import FIELDS, score

T0 = 1_764_000_000.0


def f(kind: str, comp: str, det: float, fid: str = "") -> Finding:
    return Finding(id=fid or f"f-{kind}-{comp}-{det}", kind=kind, component=comp,
                   component_type="gpu", onset=det, detected_at=det, confidence=0.9,
                   severity="major", summary="")


def t(kind: str, comp: str, onset: float, end: float | None = None) -> TruthFault:
    return TruthFault(kind, comp, onset, end)


def test_window_lower_bound_is_onset_minus_60s() -> None:
    truth = [t("gpu_failed", "n1/gpu0", T0)]
    assert score([f("gpu_failed", "n1/gpu0", T0 - 60)], truth).overall.matched == 1
    r = score([f("gpu_failed", "n1/gpu0", T0 - 60.5)], truth)
    assert r.overall.matched == 0
    assert r.overall.false == 1


def test_window_upper_bound_is_end_plus_300s_and_open_when_end_null() -> None:
    truth = [t("gpu_degraded", "n1/gpu0", T0, T0 + 100)]
    assert score([f("gpu_degraded", "n1/gpu0", T0 + 400)], truth).overall.matched == 1
    assert score([f("gpu_degraded", "n1/gpu0", T0 + 400.1)], truth).overall.matched == 0
    open_truth = [t("gpu_degraded", "n1/gpu0", T0, None)]
    assert score([f("gpu_degraded", "n1/gpu0", T0 + 1e6)], open_truth).overall.matched == 1


def test_kind_and_component_must_both_equal() -> None:
    truth = [t("cooling_fault", "cdu01", T0)]
    wrong_kind = f("gpu_overheating", "cdu01", T0 + 10)
    neighbour = f("cooling_fault", "cdu02", T0 + 10)
    r = score([wrong_kind, neighbour], truth)
    assert r.overall.matched == 0
    assert r.overall.false == 2
    assert r.overall.precision == 0.0
    assert r.overall.recall == 0.0


def test_earliest_match_wins_and_duplicates_leave_precision_denominator() -> None:
    truth = [t("host_straggler", "n2", T0)]
    late, early = f("host_straggler", "n2", T0 + 200), f("host_straggler", "n2", T0 + 50)
    r = score([late, early, f("host_straggler", "n3", T0)], truth)
    assert r.overall.matched == 1
    assert r.matches[0].finding_index == 1  # the earliest
    assert r.duplicates == (0,)
    assert r.overall.ttd_median_s == 50.0
    assert r.overall.false == 1
    assert r.overall.precision == pytest.approx(1 / 2)  # 3 findings - 1 duplicate


def test_negative_ttd_is_zero() -> None:
    r = score([f("gpu_failed", "n1/gpu0", T0 - 30)], [t("gpu_failed", "n1/gpu0", T0)])
    assert r.overall.ttd_median_s == 0.0


def test_median_and_p90_per_kind_and_overall() -> None:
    truth = [t("gpu_degraded", f"n1/gpu{i}", T0) for i in range(10)]
    truth.append(t("switch_congestion", "leaf01", T0))
    found = [f("gpu_degraded", f"n1/gpu{i}", T0 + 10 * (i + 1)) for i in range(10)]
    found.append(f("switch_congestion", "leaf01", T0 + 500))
    r = score(found, truth)
    g = r.per_kind["gpu_degraded"]
    assert g.ttd_median_s == pytest.approx(55.0)
    assert g.ttd_p90_s == pytest.approx(91.0)  # linear interpolation over 10..100
    assert r.per_kind["switch_congestion"].ttd_median_s == 500.0
    assert r.overall.ttd_median_s == pytest.approx(60.0)
    assert r.overall.recall == 1.0
    assert r.per_kind["nic_degraded"].ttd_median_s is None


def test_one_finding_cannot_match_two_faults() -> None:
    truth = [t("nic_degraded", "n1/mlx5_0", T0), t("nic_degraded", "n1/mlx5_0", T0 + 30)]
    r = score([f("nic_degraded", "n1/mlx5_0", T0 + 40)], truth)
    assert r.overall.matched == 1
    assert r.overall.missed == 1
    assert r.overall.recall == 0.5


def test_counts_add_up_and_f1() -> None:
    truth = [t("gpu_failed", "n1/gpu0", T0), t("gpu_failed", "n1/gpu1", T0)]
    found = [f("gpu_failed", "n1/gpu0", T0 + 5), f("gpu_failed", "n9/gpu0", T0 + 5)]
    o = score(found, truth).overall
    assert (o.truth, o.matched, o.missed, o.false) == (2, 1, 1, 1)
    assert o.f1 == pytest.approx(0.5)


def test_empty_inputs_are_perfect_by_convention() -> None:
    o = score([], []).overall
    assert (o.precision, o.recall, o.ttd_median_s) == (1.0, 1.0, None)


def test_cli_json_keys_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fp, tp = tmp_path / "f.json", tmp_path / "t.jsonl"
    write_findings(FindingsFile("c", (f("gpu_failed", "n1/gpu0", T0 + 5),)), fp)
    write_truth([t("gpu_failed", "n1/gpu0", T0)], tp)
    assert main(["score", "--findings", str(fp), "--truth", str(tp), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"overall", "per_kind"}
    assert set(out["overall"]) == set(FIELDS)
    assert all(set(v) == set(FIELDS) for v in out["per_kind"].values())
    assert out["overall"]["ttd_median_s"] == 5.0
    assert main(["score", "--findings", str(fp), "--truth", str(tp)]) == 0
    assert "overall" in capsys.readouterr().out


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "f.json"
    bad.write_text("{not json")
    tp = tmp_path / "t.jsonl"
    tp.write_text("")
    assert main(["score", "--findings", str(bad), "--truth", str(tp)]) == 2
    assert str(bad) in capsys.readouterr().err
