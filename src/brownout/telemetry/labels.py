"""Parse a series key ``name{label="value",...}`` of the Prometheus text formats."""

from __future__ import annotations

import re

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*(,|\})')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_ESCAPE_RE = re.compile(r"\\[\\\"n]")


class LabelError(ValueError):
    """A series key that does not follow the text format."""


def parse_series_key(key: str) -> tuple[str, dict[str, str]]:
    """Split a series key into its metric name and labels.

    Raises:
        LabelError: naming what is wrong with the key.
    """
    m = _NAME_RE.match(key)
    if not m:
        raise LabelError(f"bad metric name in {key[:80]!r}")
    name, pos = m.group(0), m.end()
    if pos == len(key):
        return name, {}
    if key[pos] != "{":
        raise LabelError(f"unexpected {key[pos]!r} after metric name {name}")
    labels: dict[str, str] = {}
    pos += 1
    if key[pos:pos + 1] == "}" and pos + 1 == len(key):
        return name, labels
    while pos < len(key):
        lm = _LABEL_RE.match(key, pos)
        if not lm:
            raise LabelError(f"malformed labels in {key[:120]!r}")
        labels[lm.group(1)] = _ESCAPE_RE.sub(lambda e: _UNESCAPE[e.group(0)], lm.group(2))
        pos = lm.end()
        if lm.group(3) == "}":
            if pos != len(key):
                raise LabelError(f"text after closing brace in {key[:120]!r}")
            return name, labels
    raise LabelError(f"unterminated label set in {key[:120]!r}")


def node_of(labels: dict[str, str]) -> str | None:
    """Which node a series belongs to (spec/telemetry.md §1).

    ``Hostname`` or ``hostname``, else ``node``, else the host part of ``instance``.
    """
    for key in ("Hostname", "hostname", "node"):
        if labels.get(key):
            return labels[key]
    inst = labels.get("instance")
    if not inst:
        return None
    if inst.startswith("["):  # [ipv6]:port
        return inst[1:].split("]", 1)[0]
    return inst.rsplit(":", 1)[0] if inst.count(":") == 1 else inst
