"""Slurm hostlists: ``n[0001-0003,0007],gpu5`` <-> a list of node names.

Follows Slurm's rules: commas separate entries except inside brackets, each
bracket holds comma-separated numbers or ``lo-hi`` ranges, zero padding of
the lower bound sets the width, several bracket groups multiply out
(``r[1-2]n[1-2]``). :func:`compress` groups names by prefix and digit width and
writes the shortest ranges, as ``scontrol show hostlist`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from brownout.errors import InputError

MAX_EXPANDED = 1_000_000
_TAIL_DIGITS = re.compile(r"^(.*?)(\d+)$")


def _split_top(text: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise InputError(f"hostlist {text!r}: unbalanced ']'")
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise InputError(f"hostlist {text!r}: unbalanced '['")
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def _range(spec: str, text: str) -> list[str]:
    out: list[str] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise InputError(f"hostlist {text!r}: bad range {part!r}")
        width = len(lo)
        start, stop = int(lo), int(hi or lo)
        if stop < start or stop - start > MAX_EXPANDED:
            raise InputError(f"hostlist {text!r}: bad range {part!r}")
        out.extend(f"{i:0{width}d}" for i in range(start, stop + 1))
    return out


def _expand_one(entry: str, text: str) -> list[str]:
    m = re.search(r"\[([^\]]*)\]", entry)
    if m is None:
        return [entry]
    head, tail = entry[: m.start()], entry[m.end():]
    return [f"{head}{n}{rest}" for n in _range(m.group(1), text)
            for rest in _expand_one(tail, text)]


def expand(hostlist: str) -> list[str]:
    """All node names of a hostlist, in order (duplicates kept, as Slurm does).

    Raises:
        InputError: unbalanced brackets or a bad range.
    """
    names: list[str] = []
    for entry in _split_top(hostlist):
        names.extend(_expand_one(entry, hostlist))
        if len(names) > MAX_EXPANDED:
            raise InputError(f"hostlist {hostlist!r}: more than {MAX_EXPANDED} names")
    return names


def compress(names: Iterable[str]) -> str:
    """The shortest hostlist naming exactly ``names`` (sorted, duplicates dropped)."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    for name in sorted(set(names)):
        m = _TAIL_DIGITS.match(name)
        if m is None:
            plain.append(name)
            continue
        groups.setdefault((m.group(1), len(m.group(2))), []).append(int(m.group(2)))
    parts = [*plain]
    for (prefix, width), nums in groups.items():
        ranges = _ranges(sorted(nums))
        if len(nums) == 1:
            parts.append(f"{prefix}{nums[0]:0{width}d}")
            continue
        body = ",".join(f"{a:0{width}d}" if a == b else f"{a:0{width}d}-{b:0{width}d}"
                        for a, b in ranges)
        parts.append(f"{prefix}[{body}]")
    return ",".join(sorted(parts, key=_sort_key))


def _sort_key(part: str) -> tuple[str, str]:
    return (part.split("[", 1)[0].rstrip("0123456789"), part)


def _ranges(nums: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in nums:
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out
