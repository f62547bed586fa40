"""Structure-aware fuzzing of the OpenMetrics / Prometheus text reader.

tests/foundation/test_parse.py feeds arbitrary bytes; here documents are
built from the format's own pieces (families, label escapes, exemplars,
special values, timestamps in s and ms, CRLF, missing ``# EOF``) so most
cases get deep into the reader. Oracles: no crash; strict mode raises only
ParseError naming the stream; the C and numpy paths agree; every kept value
is finite and every kept sample came from some line.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brownout.errors import ParseError
from brownout.telemetry.parse import parse_text
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import SeriesRegistry
from brownout.topology.generate import generate_topology

SCALE = int(os.environ.get("BROWNOUT_FUZZ_SCALE", "1"))  # deep runs: docs/reliability.md
FUZZ = settings(max_examples=200 * SCALE, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
NAMES = ["DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_XID_ERRORS",
         "node_infiniband_port_transmit_wait_total", "infiniband_switch_port_transmit_wait_total",
         "unknown_metric", "DCGM_FI_DEV_GPU_TEMP_bucket", "a:b", "0bad", ""]
LABEL_NAMES = ["gpu", "Hostname", "hostname", "node", "instance", "device", "port", "switch",
               "pod", "le", "__name__", "", "0x"]
_label_value = st.one_of(
    st.sampled_from(["0", "7", "8", "n0001", "n0002", "n9999", "n0001:9100", "mlx5_0", "leaf01",
                     "1", "-1", "", "+Inf"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12).map(
        lambda s: s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")),
    st.sampled_from(['a\\"b', "a\\\\", "a\\nb", "\\", '"', "\\x", "é", "\u202e", "\x00"]))
_value = st.one_of(
    st.integers(-2**70, 2**70).map(str), st.floats().map(repr),
    st.sampled_from(["NaN", "+Inf", "-Inf", "nan", "inf", "0x1f", "1_000", "1e308", "1e309",
                     "2147483632", "140737488355328", "9223372036854775794", "", "-", "1.0.0"]))
_ts = st.one_of(st.none(), st.integers(-10, 2**41).map(str),
                st.floats(0, 2e12, allow_nan=False).map(repr),
                st.sampled_from(["1764000000", "1764000000000", "1764000000.5", "-1", "abc"]))


@st.composite
def _sample(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(NAMES))
    labels = draw(st.lists(st.tuples(st.sampled_from(LABEL_NAMES), _label_value), max_size=4))
    body = ",".join(f'{k}="{v}"' for k, v in labels)
    lab = draw(st.sampled_from([f"{{{body}}}", f"{{{body},}}", "", "{", "{}"]))
    ts = draw(_ts)
    line = f"{name}{lab} {draw(_value)}" + ("" if ts is None else f" {ts}")
    if draw(st.integers(0, 9)) == 0:
        line += ' # {trace_id="abc"} 1.0 1764000000'
    return line


_meta = st.sampled_from(["# TYPE DCGM_FI_DEV_GPU_TEMP gauge", "# TYPE x counter",
                         "# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).",
                         "# UNIT x celsius", "#", "# EOF", "", " ", "\t"])


@st.composite
def documents(draw: st.DrawFn) -> tuple[bytes, int]:
    lines = draw(st.lists(st.one_of(_sample(), _meta), max_size=40))
    sep = draw(st.sampled_from(["\n", "\r\n"]))
    eof = draw(st.sampled_from(["# EOF\n", "", "# EOF", "# EOF\nafter\n"]))
    text = sep.join(lines) + (sep if lines else "") + eof
    return text.encode("utf-8", "surrogatepass"), len(lines) + 2


def _reg() -> SeriesRegistry:
    return SeriesRegistry(generate_topology(2))


@FUZZ
@given(documents())
def test_structured_documents(doc: tuple[bytes, int]) -> None:
    data, n_lines = doc
    outs = []
    for native in (True, False):
        problems = Problems()
        t, s, v = parse_text(data, _reg(), problems=problems, use_native=native,
                             default_ts_s=1_764_000_000.0)
        assert t.size == s.size == v.size <= n_lines
        assert np.isfinite(v).all() and np.isfinite(t).all() and (s >= 0).all()
        outs.append((t, s, v))
    for a, b in zip(*outs, strict=True):
        assert np.array_equal(a, b)


@FUZZ
@given(documents())
def test_strict_mode_raises_only_parse_errors_naming_the_stream(doc: tuple[bytes, int]) -> None:
    try:
        parse_text(doc[0], _reg(), where="fuzz.om", strict=True)
    except ParseError as exc:
        assert "fuzz.om" in str(exc)


@pytest.mark.parametrize("size_mb", [4])
def test_one_huge_line_is_bounded(size_mb: int) -> None:
    """A single multi-megabyte label value: refused or read, in bounded time, no crash."""
    big = "x" * (size_mb << 20)
    data = f'DCGM_FI_DEV_GPU_TEMP{{gpu="0",Hostname="n0001",pod="{big}"}} 50 1764000000\n'.encode()
    problems = Problems()
    t, _, _ = parse_text(data + b"# EOF\n", _reg(), problems=problems)
    assert t.size + problems.malformed_count == 1
