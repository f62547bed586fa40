"""Flight Recorder dumps for the live controller (``brownout watch --flight-recorder DIR``).

:class:`FlightRecorderWatch` looks at a directory each tick. PyTorch writes
one dump per rank, not all at once, so a dump set (the files of one prefix)
is read only when it has stopped changing: the same files with the same
sizes and modification times on two polls in a row. Each settled set is
analysed once (:func:`~brownout.detect.collectives.analyse`); a set that
changes later (another incident, the same prefix) is analysed again. A dump
that cannot be read or is refused is reported as a degraded line, never a
crash; the rest of the directory is still read.
"""

from __future__ import annotations

import re
from pathlib import Path

from brownout.detect.collectives import HangReport, analyse
from brownout.errors import InputError
from brownout.telemetry.flight_recorder import DumpSet, read_dump

_RANK_SUFFIX = re.compile(r"^(.*?)(\d+)$")
Signature = frozenset[tuple[str, int, int]]


class FlightRecorderWatch:
    """Settled dump sets of one directory, each analysed once.

    Args:
        directory: where the ranks write their dumps (the directory of
            ``TORCH_FR_DUMP_TEMP_FILE``, older PyTorch ``TORCH_NCCL_DEBUG_INFO_TEMP_FILE``).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._last: dict[str, Signature] = {}  # prefix -> signature on the previous poll
        self._done: dict[str, Signature] = {}  # prefix -> signature analysed
        self._error = ""
        self.reports = 0

    def poll(self) -> list[HangReport]:
        """Reports of the dump sets that settled since the last poll."""
        now = self._scan()
        out = []
        for prefix, sig in sorted(now.items()):
            if self._last.get(prefix) == sig and self._done.get(prefix) != sig:
                self._done[prefix] = sig
                report = self._analyse(prefix, sig)
                if report is not None:
                    out.append(report)
        self._last = now
        self.reports += len(out)
        return out

    def degraded(self) -> tuple[str, ...]:
        """One line when the directory or a dump could not be read."""
        return (f"flight recorder: {self._error}",) if self._error else ()

    def _scan(self) -> dict[str, Signature]:
        sets: dict[str, set[tuple[str, int, int]]] = {}
        try:
            paths = list(self.directory.iterdir())
        except OSError as exc:
            self._error = f"{self.directory}: cannot be read ({exc.strerror or exc})"
            return {}
        for path in paths:
            m = _RANK_SUFFIX.match(path.name)
            if m is None or path.name.startswith("."):
                continue
            try:
                st = path.stat()
            except OSError:
                continue  # removed meanwhile
            if path.is_file():
                sets.setdefault(m.group(1), set()).add((path.name, st.st_size, st.st_mtime_ns))
        return {p: frozenset(s) for p, s in sets.items()}

    def _analyse(self, prefix: str, sig: Signature) -> HangReport | None:
        try:
            dumps = tuple(sorted((read_dump(self.directory / name) for name, _, _ in sig),
                                 key=lambda d: d.rank))
        except InputError as exc:
            self._error = str(exc)
            return None
        if len({d.rank for d in dumps}) != len(dumps):
            self._error = f"{self.directory}: two dumps with prefix {prefix!r} claim one rank"
            return None
        self._error = ""
        return analyse(DumpSet(str(self.directory / prefix), dumps))


__all__ = ["FlightRecorderWatch"]
