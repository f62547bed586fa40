"""Recorded telemetry files (spec/telemetry.md §3): one file or directories of them.

Files are read in any order (gzip recognised by magic bytes); samples of one
series spread across files are merged and ordered by time; exact duplicates
(same series and timestamp) are kept once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from brownout.errors import ParseError
from brownout.telemetry.frame import Frame
from brownout.telemetry.parse import TextParser
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import SeriesRegistry
from brownout.telemetry.textio import iter_buffers


def recording_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories (recursively, hidden files skipped), sorted.

    Raises:
        ParseError: for a path that does not exist.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file()
                              and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        elif p.is_file():
            out.append(p)
        else:
            raise ParseError(str(p), 0, "no such file or directory")
    return out


def read_file(path: str | Path, registry: SeriesRegistry, problems: Problems,
              strict: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Samples of one recorded file: (t_s, series, value) arrays in file order."""
    parser = TextParser(registry, str(path), problems, strict)
    for chunk in iter_buffers(path):
        parser.feed(chunk)
    return parser.finish()


def read_recording(paths: Iterable[str | Path], registry: SeriesRegistry,
                   strict: bool = False) -> tuple[Frame, Problems]:
    """Read a recording into one time-ordered frame.

    Args:
        paths: files and/or directories.
        registry: series registry of the topology the recording belongs to.
        strict: fail on the first malformed line instead of skipping it.

    Returns:
        The frame, and the problems met (malformed lines, unknown nodes,
        dropped NaN/sentinel samples).
    """
    problems = Problems()
    ts, ss, vs = [], [], []
    for f in recording_files(paths):
        t, s, v = read_file(f, registry, problems, strict)
        ts.append(t)
        ss.append(s)
        vs.append(v)
    problems.unknown_nodes.update(registry.unknown_nodes)
    problems.unknown_components.update(registry.unknown_components)
    if not ts:
        return Frame.empty(registry.table()), problems
    frame = Frame.from_unsorted(np.concatenate(ts), np.concatenate(ss).astype(np.int32),
                                np.concatenate(vs), registry.table())
    return frame, problems


class FileSource:
    """Replays a recording through the :class:`Source` protocol.

    Args:
        paths: files and/or directories of the recording.
        registry: the engine's series registry.
    """

    def __init__(self, paths: Iterable[str | Path], registry: SeriesRegistry,
                 strict: bool = False) -> None:
        self.frame, self.problems = read_recording(paths, registry, strict)
        self._cursor = 0

    def fetch(self, until_s: float) -> Frame:
        hi = int(np.searchsorted(self.frame.t_s, until_s, side="right"))
        lo, self._cursor = self._cursor, max(self._cursor, hi)
        f = self.frame
        return Frame(f.t_s[lo:hi], f.series[lo:hi], f.value[lo:hi], f.table)

    def chunks(self, tick_s: float) -> Iterator[Frame]:
        """The whole recording as consecutive frames of ``tick_s`` seconds."""
        if not len(self.frame):
            return
        t = self.frame.start_s
        while self._cursor < len(self.frame):
            t += tick_s
            yield self.fetch(t)
