"""Read node-local verdicts from files: NVSentinel HealthEvents or Kubernetes Nodes.

Each path is a file or a directory (its ``*.json`` and ``*.jsonl`` files, in
name order). A file holding a Node or NodeList is read for node-problem-
detector conditions; anything else as NVSentinel HealthEvents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from brownout.errors import ParseError
from brownout.interop.health_events import parse_health_events
from brownout.interop.npd_source import is_node_document, parse_nodes
from brownout.interop.verdicts import Verdict


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))
    return [path]


def read_verdict_file(path: Path, gpu_uuids: Mapping[str, int] | None = None) -> list[Verdict]:
    """Verdicts of one file.

    Raises:
        ParseError: naming the file, line and field of the first problem.
    """
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(where, 0, f"cannot be read ({exc})") from exc
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if is_node_document(doc):
        return parse_nodes(doc, where)
    return parse_health_events(text, where, gpu_uuids)


def read_verdicts(paths: Iterable[str | Path], gpu_uuids: Mapping[str, int] | None = None
                  ) -> list[Verdict]:
    """Verdicts of every file under ``paths``, all or nothing."""
    out: list[Verdict] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise ParseError(str(path), 0, "no such file or directory")
        for f in _files(path):
            out.extend(read_verdict_file(f, gpu_uuids))
    return out
