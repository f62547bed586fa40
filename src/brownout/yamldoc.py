"""One reader for every YAML document brownout loads, with one unknown-key rule.

Topology, scenario, policy, watch-config, sweep-variant and evaluation files
all go through :func:`read_yaml` / :func:`parse_yaml` (safe loading only; one
error line naming the file) and refuse keys they do not define with
:func:`refuse_unknown`, so a typo never silently falls back to a default and
every loader says so the same way: ``<file>: <where>: unknown field(s) a, b
(known: ...)``. :class:`Doc` gives typed access to one mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from brownout.errors import InputError, ParseError

Range = tuple[float, float]


def parse_yaml(text: str, where: str) -> Any:
    """Parse one YAML document (safe loader).

    Raises:
        ParseError: ``<where>[:<line>]: not valid YAML (...)``.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise ParseError(where, line, f"not valid YAML ({_first_line(exc)})") from exc


def read_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file.

    Raises:
        ParseError: the file cannot be read, or is not valid YAML.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(str(path), 0, f"cannot be read ({_first_line(exc)})") from exc
    return parse_yaml(text, str(path))


def refuse_unknown(raw: Mapping[Any, Any], keys: Iterable[str], where: str, label: str) -> None:
    """The one unknown-key rule: refuse any key of ``raw`` not in ``keys``.

    Raises:
        InputError: ``<where>: <label>: unknown field(s) a, b (known: ...)``.
    """
    known = tuple(keys)
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise InputError(f"{where}: {label}: unknown field(s) {', '.join(unknown)}"
                         f" (known: {', '.join(known)})")


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


class Doc:
    """Typed access to one mapping of a YAML document, with errors naming file and key."""

    def __init__(self, raw: Any, where: str, label: str) -> None:
        if not isinstance(raw, Mapping):
            raise InputError(f"{where}: {label} must be a mapping")
        self.raw, self.where, self.label = raw, where, label

    def only(self, *keys: str) -> Doc:
        """Refuse keys this mapping does not define (typos must not pass silently)."""
        refuse_unknown(self.raw, keys, self.where, self.label)
        return self

    def fail(self, key: str, problem: str) -> InputError:
        return InputError(f"{self.where}: {self.label}.{key} {problem}")

    def num(self, key: str, default: float, positive: bool = True) -> float:
        v = self.raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(key, f"must be a number, got {v!r}")
        if positive and v <= 0:
            raise self.fail(key, f"must be positive, got {v!r}")
        return float(v)

    def integer(self, key: str, default: int) -> int:
        v = self.raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise self.fail(key, f"must be a non-negative integer, got {v!r}")
        return v

    def text(self, key: str, default: str | None, choices: tuple[str, ...] = ()) -> Any:
        v = self.raw.get(key, default)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.fail(key, f"must be a string, got {v!r}")
        if choices and v not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    def span(self, key: str, default: Range | None, scale: float = 1.0) -> Range | None:
        v = self.raw.get(key)
        if v is None:
            return default
        if isinstance(v, int | float) and not isinstance(v, bool):
            return (float(v) * scale, float(v) * scale)
        if (isinstance(v, list) and len(v) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
                and v[0] <= v[1]):
            return (float(v[0]) * scale, float(v[1]) * scale)
        raise self.fail(key, f"must be a number or [lo, hi] with lo <= hi, got {v!r}")

    def ranges(self, key: str) -> dict[str, Range]:
        sub = self.raw.get(key) or {}
        doc = Doc(sub, self.where, f"{self.label}.{key}")
        return {str(k): doc.span(str(k), (0.0, 0.0)) or (0.0, 0.0) for k in sub}

    def seconds(self, key: str, default: Range | None) -> Range | None:
        """A time range given as ``<key>_s`` or ``<key>_min``."""
        if f"{key}_min" in self.raw:
            return self.span(f"{key}_min", default, 60.0)
        return self.span(f"{key}_s", default)

    def items(self, key: str) -> list[Any]:
        v = self.raw.get(key) or []
        if not isinstance(v, list):
            raise self.fail(key, "must be a list")
        return v
