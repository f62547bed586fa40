"""The recorded-telemetry reader: formats, merging, bad input, real fixtures."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brownout.errors import ParseError
from brownout.telemetry.metrics import Entity, metric_id
from brownout.telemetry.parse import parse_text
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.sources.files import FileSource, read_recording
from brownout.topology.loader import from_dict

from .conftest import om_line

FIX = Path(__file__).parent.parent / "fixtures" / "formats"
TEMP = "DCGM_FI_DEV_GPU_TEMP"


def _write(path: Path, lines: list[str], eof: bool = True) -> Path:
    head = f"# HELP {TEMP} GPU temperature (in C).\n# TYPE {TEMP} gauge\n"
    path.write_text(head + "".join(lines) + ("# EOF\n" if eof else ""))
    return path


def test_openmetrics_seconds_and_prometheus_text_milliseconds(tmp_path, registry) -> None:
    om = _write(tmp_path / "a.om", [om_line(TEMP, "n0001", 0, "41", "1700000000.5")])
    prom = _write(tmp_path / "b.prom", [om_line(TEMP, "n0001", 1, "42", "1700000030500")],
                  eof=False)
    frame, problems = read_recording([om, prom], registry)
    assert frame.t_s.tolist() == [1700000000.5, 1700000030.5]
    assert frame.value.tolist() == [41.0, 42.0]
    assert problems.malformed_count == 0


def test_series_spread_over_files_merge_in_time_order(tmp_path, registry) -> None:
    lines = [om_line(TEMP, "n0002", 3, str(40 + i), f"{1700000000 + 30 * i}") for i in range(6)]
    _write(tmp_path / "late.om", lines[3:])
    sub = tmp_path / "sub"
    sub.mkdir()
    _write(sub / "early.om", lines[:4])  # one duplicate sample across files
    frame, _ = read_recording([tmp_path], registry)
    assert frame.value.tolist() == [40, 41, 42, 43, 44, 45]
    assert np.all(np.diff(frame.t_s) > 0)
    assert len(frame.table) == 1
    gpu = frame.table.component[0]
    assert registry.topology.gpu_name(int(gpu)) == "n0002/gpu3"


def test_gzip_is_recognised_by_magic_and_truncation_is_an_error(tmp_path, registry) -> None:
    text = _write(tmp_path / "x", [om_line(TEMP, "n0001", 0, "41", "1700000000")]).read_bytes()
    (tmp_path / "x").unlink()
    (tmp_path / "plain-name").write_bytes(gzip.compress(text))
    frame, _ = read_recording([tmp_path / "plain-name"], registry)
    assert frame.value.tolist() == [41.0]
    big = "".join(om_line(TEMP, "n0001", i % 8, "41", str(1700000000 + i)) for i in range(3000))
    blob = gzip.compress(big.encode())
    cut = tmp_path / "cut.om.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ParseError, match=r"cut\.om\.gz.*truncated or corrupt gzip"):
        read_recording([cut], registry)


def test_label_variants_name_the_same_series(tmp_path, registry) -> None:
    lines = [
        om_line(TEMP, "n0001", 2, "41", "1700000000", host_label="Hostname"),
        om_line(TEMP, "n0001", 2, "42", "1700000030", host_label="hostname"),
        f'{TEMP}{{gpu="2",instance="n0001:9400",pod="p"}} 43 1700000060\n',
        om_line("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "n0001", 2, "8", "1700000000"),
        om_line("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "n0001", 2, "8", "1700000030"),
    ]
    frame, _ = read_recording([_write(tmp_path / "v.om", lines)], registry)
    assert len(frame.table) == 2
    _, comp, v = frame.metric(metric_id(TEMP))
    assert v.tolist() == [41, 42, 43] and len(set(comp.tolist())) == 1
    _, _, v = frame.metric(metric_id("DCGM_FI_DEV_CLOCKS_EVENT_REASONS"))
    assert v.tolist() == [8, 8]


def test_bad_values_are_dropped_and_counted_malformed_lines_named(tmp_path, registry) -> None:
    lines = [
        om_line(TEMP, "n0001", 0, "41", "1700000000"),
        om_line(TEMP, "n0001", 1, "NaN", "1700000000"),
        om_line(TEMP, "n0001", 2, "+Inf", "1700000000"),
        om_line(TEMP, "n0001", 3, "9223372036854775794", "1700000000"),
        om_line(TEMP, "n0001", 4, "140737488355328", "1700000000"),
        "this is not a sample\n",
        om_line(TEMP, "n0099", 0, "41", "1700000000"),
        om_line(TEMP, "n0001", 5, "4x1", "1700000000"),
        'DCGM_FI_DEV_GPU_TEMP{gpu="6",Hostname="n0001" 41 1700000000\n',
        om_line(TEMP, "n0001", 7, "44", "1700000000"),
    ]
    path = _write(tmp_path / "bad.om", lines)
    frame, problems = read_recording([path], registry)
    assert frame.value.tolist() == [41.0, 44.0]
    assert problems.dropped_nonfinite == 2
    assert problems.dropped_sentinel == 2
    assert problems.malformed_count == 3
    # header lines are 1-2, so sample line k is line k + 2
    assert [m.split(": ")[0] for m in problems.malformed_lines] == [
        f"{path}:8", f"{path}:10", f"{path}:11"]
    assert dict(problems.unknown_nodes) == {"n0099": 1}
    with pytest.raises(ParseError, match=r"bad\.om:8: "):
        read_recording([path], SeriesRegistry(registry.topology), strict=True)


def test_real_dcgm_exporter_scrape_fixture() -> None:
    topo = from_dict({"version": 1, "name": "real", "nodes": [
        {"name": "424773df46e0", "rack": "r", "cooling": "c", "leaf": "l", "gpus": 1},
        {"name": "ip-11111", "rack": "r", "cooling": "c", "leaf": "l", "gpus": 1}],
        "switches": [{"name": "l", "tier": "leaf"}]})
    reg = SeriesRegistry(topo)
    problems = Problems()
    data = (FIX / "datadog_dcgm_fixture_metrics.txt").read_bytes()
    t, s, v = parse_text(data, reg, where="fixture", problems=problems, default_ts_s=100.0)
    names = {reg.table().metric[i] for i in s}
    assert metric_id("DCGM_FI_DEV_GPU_TEMP") in names
    temp = v[reg.table().metric[s] == metric_id("DCGM_FI_DEV_GPU_TEMP")]
    assert temp.tolist() == [25.0]
    power = v[reg.table().metric[s] == metric_id("DCGM_FI_DEV_POWER_USAGE")]
    assert power.tolist() == [pytest.approx(8.969)]
    assert (t == 100.0).all()
    assert problems.malformed_count == 0
    # the dummy un-labelled block names no host: counted, not fatal
    assert reg.unknown_nodes["<no host label>"] >= 1


def test_exemplars_and_spaces_in_label_values_take_the_careful_path(tmp_path, registry) -> None:
    lines = [
        f'{TEMP}{{gpu="0",Hostname="n0001",note="a b # c"}} 41 1700000000\n',
        'node_infiniband_port_transmit_wait_total{device="mlx5_1",port="1",'
        'instance="n0002:9100"} 5 1700000000 # {trace_id="x"} 1 1700000000\n',
    ]
    frame, problems = read_recording([_write(tmp_path / "e.om", lines)], registry)
    assert problems.malformed_count == 0
    assert sorted(frame.value.tolist()) == [5.0, 41.0]
    nic = frame.table.component[frame.table.entity == int(Entity.NIC)][0]
    assert registry.topology.nic_name(int(nic)) == "n0002/mlx5_1"


def test_text_after_eof_is_reported(tmp_path, registry) -> None:
    path = tmp_path / "x.om"
    path.write_text(om_line(TEMP, "n0001", 0, "41", "1700000000") + "# EOF\n"
                    + om_line(TEMP, "n0001", 0, "42", "1700000030"))
    _, problems = read_recording([path], registry)
    assert any("after '# EOF'" in m for m in problems.malformed_lines)


def test_file_source_replays_incrementally(tmp_path, registry) -> None:
    lines = [om_line(TEMP, "n0001", 0, str(i), f"{1700000000 + 30 * i}") for i in range(10)]
    src = FileSource([_write(tmp_path / "r.om", lines)], registry)
    got = [len(f) for f in src.chunks(60.0)]
    assert got == [3, 2, 2, 2, 1]  # windows are (previous, until], the first includes t0
    assert len(src.fetch(2e9)) == 0  # nothing is returned twice


def test_missing_path_is_an_error(registry) -> None:
    with pytest.raises(ParseError, match="no such file"):
        read_recording(["/nonexistent/recording"], registry)


_value = st.one_of(st.integers(-10**6, 10**6).map(str),
                   st.floats(-1e6, 1e6, allow_nan=False).map(repr))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 7), _value,
                          st.integers(1_600_000_000, 1_700_000_000)), min_size=1, max_size=60),
       st.booleans(), st.booleans())
def test_fast_and_careful_paths_agree(rows, with_garbage, native) -> None:
    """Whatever path a chunk takes (C, numpy or per-line), the same samples come out."""
    from brownout.topology.generate import generate_topology

    lines = [om_line(TEMP, f"n{n:04d}", g, v, str(ts)) for n, g, v, ts in rows]
    clean = "".join(lines).encode() + b"# EOF\n"
    dirty = "".join([*lines[:1], "garbage\n", *lines[1:]]).encode() + b"# EOF\n"
    reg_a, reg_b = (SeriesRegistry(generate_topology(4)) for _ in range(2))
    a = parse_text(clean, reg_a, use_native=False)
    b = parse_text(dirty if with_garbage else clean, reg_b, use_native=native)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    assert a[0].size == len(rows)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_parser_never_crashes_on_arbitrary_bytes(data, native) -> None:
    from brownout.topology.generate import generate_topology

    problems = Problems()
    t, s, v = parse_text(data, SeriesRegistry(generate_topology(2)), problems=problems,
                         use_native=native)
    assert t.size == s.size == v.size
    assert np.isfinite(v).all()


@pytest.mark.parametrize("native", [True, False])
def test_escaped_quotes_and_braces_inside_label_values(registry, native) -> None:
    body = (f'{TEMP}{{note="a \\"quoted\\" }} value",gpu="0",Hostname="n0001"}} 41 1700000000\n'
            f'{TEMP}{{note="ends in backslash \\\\",gpu="1",Hostname="n0001"}} 42 1700000000\n'
            "# EOF\n").encode()
    problems = Problems()
    _, s, v = parse_text(body, registry, problems=problems, use_native=native)
    assert problems.malformed_count == 0
    assert sorted(v.tolist()) == [41.0, 42.0] and len(set(s.tolist())) == 2
