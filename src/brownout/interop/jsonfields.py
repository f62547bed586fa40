"""Typed field access for the JSON documents other tools write.

Every problem becomes one :class:`~brownout.errors.ParseError` line naming the
source, the entry and the field (``events.jsonl:4: events[0].isFatal: must be
true or false``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from brownout.errors import ParseError


class Fields:
    """Read typed fields of one JSON object, failing with a line that names them.

    Args:
        raw: the decoded JSON value (must be an object).
        where: the file or source name.
        line: 1-based line for JSON Lines input, else 0.
        label: the entry (``events[2]``, ``items[0].status.conditions[3]``).
    """

    def __init__(self, raw: Any, where: str, line: int, label: str) -> None:
        self.where, self.line, self.label = where, line, label
        if not isinstance(raw, Mapping):
            raise self.error("", "must be a JSON object")
        self.raw: Mapping[str, Any] = raw

    def error(self, name: str, problem: str) -> ParseError:
        field = f"{self.label}.{name}" if name else self.label
        return ParseError(self.where, self.line, f"{field}: {problem}")

    def only(self, allowed: frozenset[str]) -> None:
        """Refuse fields the format does not have (as protobuf JSON parsers do)."""
        extra = sorted(set(self.raw) - allowed)
        if extra:
            raise self.error(extra[0], "unknown field")

    def text(self, name: str, required: bool = False) -> str:
        value = self.raw.get(name)
        if value is None:
            if required:
                raise self.error(name, "missing")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.error(name, "must be a non-empty string" if required
                             else "must be a string")
        return value

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if value is None:  # protobuf JSON: null is the default
            return False
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.raw.get(name)
        value = [] if value is None else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(name, "must be a list of strings")
        return tuple(value)

    def objects(self, name: str) -> list[Fields]:
        value = self.raw.get(name)
        value = [] if value is None else value
        if not isinstance(value, list):
            raise self.error(name, "must be a list")
        return [Fields(v, self.where, self.line, f"{self.label}.{name}[{i}]")
                for i, v in enumerate(value)]

    def uint32(self, name: str) -> int:
        """A protobuf uint32 (a JSON number, or a string of digits as protobuf JSON allows)."""
        value = self.raw.get(name)
        if value is None:
            return 0
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
            raise self.error(name, "must be an unsigned 32-bit integer")
        return value

    def timestamp(self, name: str) -> float:
        """An RFC 3339 time (protobuf JSON, metav1.Time); ``-inf`` when absent."""
        value = self.raw.get(name)
        if value is None:
            return -math.inf
        if not isinstance(value, str):
            raise self.error(name, "must be an RFC 3339 time string")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.error(name, f"{value[:40]!r} is not an RFC 3339 time") from None
        if parsed.tzinfo is None:
            raise self.error(name, f"{value[:40]!r} has no time zone")
        return parsed.timestamp()
