"""What went wrong while reading input, counted and reported once.

Readers never print; they record here. The CLI prints a short summary on
stderr, and the findings file carries it as notices.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

MAX_LISTED = 20  # malformed lines listed individually; the rest are counted


@dataclass
class Problems:
    """Counts and first examples of bad input met while reading."""

    malformed_lines: list[str] = field(default_factory=list)
    malformed_count: int = 0
    unknown_nodes: Counter[str] = field(default_factory=Counter)
    unknown_components: Counter[str] = field(default_factory=Counter)
    dropped_nonfinite: int = 0
    dropped_sentinel: int = 0
    counter_resets: int = 0

    def malformed(self, path: str, line: int, problem: str) -> None:
        """Record one malformed line (``path:line: problem``)."""
        self.malformed_count += 1
        if len(self.malformed_lines) < MAX_LISTED:
            self.malformed_lines.append(f"{path}:{line}: {problem}")

    def unknown_node(self, node: str, where: str = "", count: int = 1) -> None:
        """Record series or records of a node that is not in the topology."""
        del where  # reported by name only: one line per node, not per file
        self.unknown_nodes[node] += count

    def merge(self, other: Problems) -> None:
        """Add another reader's problems to these."""
        room = MAX_LISTED - len(self.malformed_lines)
        self.malformed_lines.extend(other.malformed_lines[:max(room, 0)])
        self.malformed_count += other.malformed_count
        self.unknown_nodes.update(other.unknown_nodes)
        self.unknown_components.update(other.unknown_components)
        self.dropped_nonfinite += other.dropped_nonfinite
        self.dropped_sentinel += other.dropped_sentinel
        self.counter_resets += other.counter_resets

    def summary_lines(self) -> list[str]:
        """One line per kind of problem, for people."""
        out = list(self.malformed_lines)
        if self.malformed_count > len(self.malformed_lines):
            more = self.malformed_count - len(self.malformed_lines)
            out.append(f"... {more} more malformed lines")
        if self.unknown_nodes:
            names = ", ".join(sorted(self.unknown_nodes)[:10])
            out.append(f"{len(self.unknown_nodes)} node(s) not in the topology, ignored: {names}")
        if self.unknown_components:
            names = ", ".join(sorted(self.unknown_components)[:10])
            out.append(f"{len(self.unknown_components)} component(s) not in the topology, "
                       f"ignored: {names}")
        if self.dropped_nonfinite:
            out.append(f"{self.dropped_nonfinite} NaN/Inf samples dropped")
        if self.dropped_sentinel:
            out.append(f"{self.dropped_sentinel} DCGM blank/sentinel samples dropped")
        if self.counter_resets:
            out.append(f"{self.counter_resets} counter resets detected "
                       "(not read as negative rates)")
        return out

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "malformed_count": self.malformed_count,
            "malformed_examples": self.malformed_lines,
            "unknown_nodes": dict(self.unknown_nodes),
            "unknown_components": dict(self.unknown_components),
            "dropped_nonfinite": self.dropped_nonfinite,
            "dropped_sentinel": self.dropped_sentinel,
            "counter_resets": self.counter_resets,
        }
