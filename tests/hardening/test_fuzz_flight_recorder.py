"""Hostile Flight Recorder dumps under Hypothesis: refused in one line, nothing executed.

A dump is a pickle, and a pickle can name any class and call it. Each case
hides a payload in a real dump (or is one): a global (GLOBAL, STACK_GLOBAL,
INST) of ``os.system``, ``builtins.eval``/``exec``, ``subprocess.Popen`` ...
invoked by REDUCE, BUILD, OBJ, NEWOBJ or NEWOBJ_EX; persistent ids and
extension codes; sets and buffers; truncation; sizes declared far beyond the
file; nesting and self-reference. The reader must raise one ``InputError``
line naming the file, and the sentinel side effects (a file the payload
would create, a function it would call) must not happen. A control shows
the payloads are live: ``pickle.loads`` of the same bytes does call the
sentinel. Case counts are in docs/reliability.md.
"""

from __future__ import annotations

import os
import pickle
import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brownout.errors import InputError
from brownout.telemetry.flight_recorder import read_dump
from brownout.telemetry.safe_pickle import Limits, loads_plain

from . import fr_sentinel

SCALE = int(os.environ.get("BROWNOUT_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=200 * SCALE, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
REAL = (Path(__file__).resolve().parents[1] / "fixtures" / "flight_recorder" / "fr_traces"
        / "gpu_error_1st" / "_dump_14").read_bytes()
SENTINEL = fr_sentinel.__name__  # the module object this test sees


def _sbu(text: str) -> bytes:
    """SHORT_BINUNICODE (or BINUNICODE when long)."""
    raw = text.encode()
    return (b"\x8c" + bytes([len(raw)]) if len(raw) < 256
            else b"X" + struct.pack("<I", len(raw))) + raw


def _targets(pwned: Path) -> list[tuple[str, str, str]]:
    """(module, name, argument): each would create ``pwned`` (or call the sentinel)."""
    return [
        (SENTINEL, "trip", "x"),
        ("os", "system", f"touch {pwned}"),
        ("posix", "system", f"touch {pwned}"),
        ("subprocess", "getoutput", f"touch {pwned}"),
        ("builtins", "exec", f"open({str(pwned)!r}, 'w').close()"),
        ("builtins", "eval", f"open({str(pwned)!r}, 'w').close()"),
        ("builtins", "__import__", "antigravity"),
        ("pickle", "loads", "garbage"),
        ("torch", "load", str(pwned)),
    ]


def _call(trick: str, mod: str, name: str, arg: str) -> bytes:
    """A pickle fragment that leaves ``mod.name(arg)`` (or an object of it) on the stack."""
    glob = b"c" + mod.encode() + b"\n" + name.encode() + b"\n"
    stack_glob = _sbu(mod) + _sbu(name) + b"\x93"
    args = _sbu(arg) + b"\x85"  # a 1-tuple
    return {
        "GLOBAL+REDUCE": glob + args + b"R",
        "STACK_GLOBAL+REDUCE": stack_glob + args + b"R",
        "INST": b"(" + _sbu(arg) + b"i" + mod.encode() + b"\n" + name.encode() + b"\n",
        "OBJ": b"(" + glob + _sbu(arg) + b"o",
        "NEWOBJ": glob + args + b"\x81",
        "NEWOBJ_EX": glob + args + b"}\x92",
        "BUILD": glob + args + b"R}" + b"b",
        "PERSID": b"P" + arg.encode("ascii", "replace").replace(b"\n", b" ") + b"\n",
        "BINPERSID": _sbu(arg) + b"Q",
        "EXT1": b"\x82\x01",
        "EXT2": b"\x83\x01\x00",
        "EXT4": b"\x84\x01\x00\x00\x00",
        "SET": b"\x8f(" + _sbu(arg) + b"\x90",
        "FROZENSET": b"(" + _sbu(arg) + b"\x91",
        "BYTEARRAY8": b"\x96" + struct.pack("<Q", 1) + b"x",
        "NEXT_BUFFER": b"\x97",
    }[trick]


TRICKS = ("GLOBAL+REDUCE", "STACK_GLOBAL+REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX",
          "BUILD", "PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4", "SET", "FROZENSET",
          "BYTEARRAY8", "NEXT_BUFFER")


def _embedded(fragment: bytes, where: str) -> bytes:
    """The fragment as a whole pickle, or as a value inside the real dump's top dict."""
    if where == "alone":
        return b"\x80\x05" + fragment + b"."
    assert REAL.startswith(b"\x80\x02}(")  # PROTO 2, EMPTY_DICT, MARK: its first item
    return REAL[:4] + _sbu("evil") + fragment + REAL[4:]


def _refused(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        read_dump(path)
    msg = str(info.value)
    assert path.name in msg and "\n" not in msg
    return msg


@FUZZ
@given(target=st.integers(0, 8), trick=st.sampled_from(TRICKS),
       where=st.sampled_from(["alone", "inside"]))
def test_globals_reduces_and_friends_are_refused_and_never_run(
        tmp_path: Path, target: int, trick: str, where: str) -> None:
    pwned = tmp_path / "pwned"
    mod, name, arg = _targets(pwned)[target]
    before = len(fr_sentinel.TRIPPED)
    _refused(tmp_path / "_dump_3", _embedded(_call(trick, mod, name, arg), where))
    assert not pwned.exists()
    assert len(fr_sentinel.TRIPPED) == before


@pytest.mark.parametrize("trick", ["GLOBAL+REDUCE", "STACK_GLOBAL+REDUCE", "INST", "OBJ"])
def test_control_the_payloads_are_live(tmp_path: Path, trick: str) -> None:
    data = _embedded(_call(trick, SENTINEL, "trip", "x"), "inside")
    before = len(fr_sentinel.TRIPPED)
    _refused(tmp_path / "_dump_0", data)
    assert len(fr_sentinel.TRIPPED) == before
    pickle.loads(data)  # the control: the stock unpickler runs it
    assert len(fr_sentinel.TRIPPED) == before + 1


@FUZZ
@given(cut=st.integers(0, len(REAL) - 1))
def test_truncated_dumps_are_refused(tmp_path: Path, cut: int) -> None:
    _refused(tmp_path / "_dump_1", REAL[:cut])


def _flip(tmp_path: Path, pos: int, byte: int) -> None:
    path = tmp_path / "_dump_2"
    path.write_bytes(REAL[:pos] + bytes([byte]) + REAL[pos + 1:])
    try:
        dump = read_dump(path)
    except InputError as exc:
        assert path.name in str(exc) and "\n" not in str(exc)
    else:
        assert dump.rank == 2


@FUZZ
@given(pos=st.integers(0, len(REAL) - 1), byte=st.integers(0, 255))
def test_a_flipped_byte_is_a_dump_or_one_line(tmp_path: Path, pos: int, byte: int) -> None:
    _flip(tmp_path, pos, byte)


def test_a_flipped_byte_found_by_the_deep_run(tmp_path: Path) -> None:
    # a NUL turns an opcode into STRING, whose argument pickletools escape-decodes
    # with a DeprecationWarning (\h) before the reader sees the opcode
    _flip(tmp_path, 2026, 0)


_HUGE = {
    "BINUNICODE": lambda n: b"X" + struct.pack("<I", n % 2**32),
    "BINUNICODE8": lambda n: b"\x8d" + struct.pack("<Q", n),
    "BINBYTES": lambda n: b"B" + struct.pack("<I", n % 2**32),
    "BINBYTES8": lambda n: b"\x8e" + struct.pack("<Q", n),
    "LONG4": lambda n: b"\x8b" + struct.pack("<i", n % 2**31),
    "FRAME": lambda n: b"\x95" + struct.pack("<Q", n),
    "BYTEARRAY8": lambda n: b"\x96" + struct.pack("<Q", n),
}


@FUZZ
@given(op=st.sampled_from(sorted(_HUGE)), n=st.integers(2**20, 2**63 - 1),
       tail=st.binary(max_size=64))
def test_huge_declared_sizes_allocate_nothing(tmp_path: Path, op: str, n: int,
                                              tail: bytes) -> None:
    data = b"\x80\x05" + _HUGE[op](n) + tail
    tracemalloc.start()
    try:
        _refused(tmp_path / "_dump_4", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_a_file_over_the_size_cap_is_refused_before_parsing() -> None:
    with pytest.raises(InputError, match="more than the 1000 allowed"):
        loads_plain(b"\x80\x02]" + b"K\x01" * 600 + b".", "big", Limits(max_bytes=1000))


def _nested(style: str, n: int) -> bytes:
    if style == "marks":  # ((((...llll: lists in lists through MARK
        return b"\x80\x02" + b"(" * n + b"l" * n + b"."
    if style == "appends":  # ]]]]...aaaa: one empty list appended into the one below
        return b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."
    # through the memo, with a constant stack: l0 = []; l1 = [l0]; l2 = [l1] ...
    body = b"]q\x00"
    for i in range(1, n):
        body += b"]" + b"h" + bytes([(i - 1) % 256]) + b"aq" + bytes([i % 256]) + b"0"
    return b"\x80\x02" + body + b"h" + bytes([(n - 1) % 256]) + b"."


@FUZZ
@given(style=st.sampled_from(["marks", "appends", "memo"]), n=st.integers(33, 3000))
def test_deep_nesting_is_refused(tmp_path: Path, style: str, n: int) -> None:
    msg = _refused(tmp_path / "_dump_5", _nested(style, n))
    assert "deeper" in msg or "recursive" in msg or "memo" in msg


@pytest.mark.parametrize("data", [
    b"\x80\x02]q\x00h\x00a.",  # a list appended into itself
    b"\x80\x02]\x94(h\x00e.",  # MEMOIZE, then itself through APPENDS
    b"\x80\x02}q\x00K\x01h\x00s.",  # a dict holding itself
    b"\x80\x02]q\x00]q\x01h\x00ah\x01h\x00\x86.",  # [] inside [], then the outer into the inner
])
def test_self_reference_is_refused(tmp_path: Path, data: bytes) -> None:
    _refused(tmp_path / "_dump_6", data)


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=6) | st.binary(max_size=6),  # bytes need protocol 3
                    lambda c: st.lists(c, max_size=4) | st.tuples(c, c)
                    | st.dictionaries(st.text(max_size=4), c, max_size=4), max_leaves=20),
       st.integers(3, 5))
def test_plain_values_round_trip(value: object, protocol: int) -> None:
    assert loads_plain(pickle.dumps(value, protocol=protocol), "x") == value
