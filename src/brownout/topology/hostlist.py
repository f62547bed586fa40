"""Slurm hostlist expressions: ``n[001-032,040],gpu-a[1-2]`` <-> names."""

from __future__ import annotations

import re

from brownout.errors import InputError

_RANGE_RE = re.compile(r"^(\d+)(?:-(\d+))?$")
MAX_EXPANSION = 1_000_000


def _split_top(expr: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in expr:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise InputError(f"hostlist '{expr}': unbalanced ']'")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise InputError(f"hostlist '{expr}': unbalanced '['")
    parts.append("".join(cur))
    return [p for p in parts if p]


def _expand_one(item: str, expr: str) -> list[str]:
    m = re.search(r"\[([^\[\]]*)\]", item)
    if not m:
        return [item]
    prefix, suffix = item[:m.start()], item[m.end():]
    out: list[str] = []
    for rng in m.group(1).split(","):
        rm = _RANGE_RE.match(rng.strip())
        if not rm:
            raise InputError(f"hostlist '{expr}': bad range '{rng}'")
        lo_s, hi_s = rm.group(1), rm.group(2) or rm.group(1)
        lo, hi, width = int(lo_s), int(hi_s), len(lo_s)
        if hi < lo or hi - lo > MAX_EXPANSION:
            raise InputError(f"hostlist '{expr}': bad range '{rng}'")
        for i in range(lo, hi + 1):
            out.extend(_expand_one(f"{prefix}{i:0{width}d}{suffix}", expr))
    return out


def expand_hostlist(expr: str) -> list[str]:
    """Expand a Slurm hostlist into names, in order.

    Raises:
        InputError: for unbalanced brackets or bad ranges.
    """
    names: list[str] = []
    for item in _split_top(expr.strip()):
        names.extend(_expand_one(item, expr))
        if len(names) > MAX_EXPANSION:
            raise InputError(f"hostlist '{expr[:60]}' expands to more than {MAX_EXPANSION} names")
    return names


def compress_hostlist(names: list[str]) -> str:
    """The shortest-ish hostlist for ``names`` (same prefix and width grouped)."""
    groups: dict[tuple[str, int], list[int]] = {}
    plain: list[str] = []
    for name in names:
        m = re.match(r"^(.*?)(\d+)$", name)
        if not m:
            plain.append(name)
            continue
        groups.setdefault((m.group(1), len(m.group(2))), []).append(int(m.group(2)))
    out = list(plain)
    for (prefix, width), nums in groups.items():
        ranges = _ranges(sorted(set(nums)))
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            out.append(f"{prefix}{ranges[0][0]:0{width}d}")
            continue
        body = ",".join(f"{a:0{width}d}" if a == b else f"{a:0{width}d}-{b:0{width}d}"
                        for a, b in ranges)
        out.append(f"{prefix}[{body}]")
    return ",".join(out)


def _ranges(nums: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in nums:
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out
