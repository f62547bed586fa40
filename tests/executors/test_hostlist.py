"""Slurm hostlists: expansion and compression, checked against scontrol when present."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brownout.errors import InputError
from brownout.topology.hostlist import compress, expand


@pytest.mark.parametrize(("text", "names"), [
    ("n0001", ["n0001"]),
    ("n[0001-0003,0007]", ["n0001", "n0002", "n0003", "n0007"]),
    ("n[8-11],gpu-a", ["n8", "n9", "n10", "n11", "gpu-a"]),
    ("r[1-2]n[08-09]", ["r1n08", "r1n09", "r2n08", "r2n09"]),
    ("a[1-2]-ib", ["a1-ib", "a2-ib"]),
    ("", []),
])
def test_expand_examples(text: str, names: list[str]) -> None:
    assert expand(text) == names


@pytest.mark.parametrize("bad", ["n[1-", "n1]", "n[a-b]", "n[5-3]", "n[1--2]"])
def test_bad_hostlists_are_refused(bad: str) -> None:
    with pytest.raises(InputError, match="hostlist"):
        expand(bad)


names_st = st.lists(st.builds(lambda p, n, w: f"{p}{n:0{w}d}", st.sampled_from(["n", "gpu", "r1n"]),
                              st.integers(0, 300), st.integers(1, 4)), max_size=40)


@given(names_st)
def test_compress_then_expand_round_trips(names: list[str]) -> None:
    assert sorted(expand(compress(names))) == sorted(set(names))


@pytest.mark.slurm
@pytest.mark.skipif(shutil.which("scontrol") is None, reason="scontrol not installed")
@given(names_st.filter(bool))
def test_agrees_with_scontrol(names: list[str]) -> None:
    ours = compress(names)
    theirs = subprocess.run(["scontrol", "show", "hostnames", ours], capture_output=True,
                            text=True, timeout=10, check=True).stdout.split()
    assert sorted(theirs) == sorted(set(names))
    slurm_compressed = subprocess.run(["scontrol", "show", "hostlist", ",".join(names)],
                                      capture_output=True, text=True, timeout=10,
                                      check=True).stdout.strip()
    assert sorted(set(expand(slurm_compressed))) == sorted(set(names))
