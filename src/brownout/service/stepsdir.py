"""Follow a shared directory of step logs (``brownout watch --steps-dir DIR``).

Every ``*.jsonl`` file under the directory (recursively) is followed by its
open file descriptor, keyed by device and inode, not by its name:

- a new file is picked up on the next poll and read from its start;
- appended whole lines are read and handed to the
  :class:`~brownout.service.intake.StepIntake`; a partial last line is held
  until its newline arrives;
- rotation by rename (``steps.jsonl`` -> ``steps.jsonl.1``, new
  ``steps.jsonl``): the renamed file is still read through its descriptor
  until it has been gone from the ``*.jsonl`` names for ``grace_polls``
  polls and is read to its end, then closed; the new file is a new inode,
  read from its start. Renamed to another ``*.jsonl`` name, it simply goes on;
- truncation (copy-truncate rotation, or a file rewritten in place) is seen
  as a size below the read offset or a changed first line, and the file is
  read again from its start; records read twice are recognised by the
  intake's duplicate filter, so none counts twice.

When the intake is full, the follower leaves its offsets where they are and
reads the same lines again on a later poll (nothing is lost).
"""

from __future__ import annotations

import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from brownout.service.intake import IntakeFullError, StepIntake

HEAD_BYTES = 64
MAX_LINE_BYTES = 1 << 20


@dataclass
class _Followed:
    fd: int
    path: str
    offset: int = 0
    partial: bytes = b""
    lines: int = 0
    head: bytes = b""
    missing_polls: int = 0


class StepsDirFollower:
    """Reads new step lines of every ``*.jsonl`` file under ``root`` into an intake.

    Args:
        root: the directory.
        intake: where the lines go.
        read_bytes: bytes read from one file per poll at most.
        budget_bytes: bytes read from all files per poll at most.
        grace_polls: polls a renamed-away file is still read before it is closed.
    """

    def __init__(self, root: str | Path, intake: StepIntake, *, read_bytes: int = 8 << 20,
                 budget_bytes: int = 32 << 20, grace_polls: int = 3) -> None:
        self.root = Path(root)
        self.intake = intake
        self.read_bytes = read_bytes
        self.budget_bytes = budget_bytes
        self.grace_polls = grace_polls
        self.accepted = 0
        self._files: dict[tuple[int, int], _Followed] = {}
        self._problems: deque[str] = deque(maxlen=5)
        self._rejected = 0
        self._error = ""

    def poll(self) -> int:
        """Read what is new; returns the records taken this poll."""
        taken = 0
        self._scan()
        budget = self.budget_bytes
        for key, f in list(self._files.items()):
            try:
                got, used = self._read(f, budget)
            except IntakeFullError:
                break  # offsets unchanged: the same lines are read on a later poll
            except OSError as exc:
                self._problems.append(f"{f.path}: cannot be read ({exc.strerror or exc})")
                self._close(key)
                continue
            taken += got
            budget -= used
            if f.missing_polls > self.grace_polls and used == 0:
                self._close(key)
            if budget <= 0:
                break
        self.accepted += taken
        return taken

    def followed(self) -> tuple[str, ...]:
        """The names of the files followed now."""
        return tuple(sorted(f.path for f in self._files.values()))

    def degraded(self) -> tuple[str, ...]:
        """Problems worth a line on the dashboard (unreadable directory, bad lines)."""
        lines = [self._error] if self._error else []
        if self._rejected:
            lines.append(f"steps-dir: {self._rejected} line(s) refused; latest: "
                         + "; ".join(list(self._problems)[-2:]))
        return tuple(lines)

    def close(self) -> None:
        for key in list(self._files):
            self._close(key)

    # --------------------------------------------------------------------------------------
    def _scan(self) -> None:
        for followed in self._files.values():
            followed.missing_polls += 1
        if not self.root.is_dir():
            self._error = f"steps-dir {self.root}: not a readable directory"
            return
        self._error = ""
        for path in sorted(self.root.rglob("*.jsonl")):
            try:
                st = path.stat()
            except OSError:
                continue  # removed between listing and stat
            key = (st.st_dev, st.st_ino)
            f = self._files.get(key) or self._open(path, key)
            if f is not None:
                f.path, f.missing_polls = str(path), 0

    def _open(self, path: Path, key: tuple[int, int]) -> _Followed | None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            self._problems.append(f"{path}: cannot be opened ({exc.strerror or exc})")
            return None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != key or not stat.S_ISREG(st.st_mode):  # replaced meanwhile
            os.close(fd)
            return None
        f = _Followed(fd, str(path))
        self._files[key] = f
        return f

    def _close(self, key: tuple[int, int]) -> None:
        f = self._files.pop(key)
        os.close(f.fd)

    def _read(self, f: _Followed, budget: int) -> tuple[int, int]:
        """Read and hand over new whole lines of one file: (records taken, bytes read)."""
        size = os.fstat(f.fd).st_size
        if size < f.offset or (f.head and os.pread(f.fd, len(f.head), 0) != f.head):
            f.offset, f.partial, f.lines, f.head = 0, b"", 0, b""  # truncated or rewritten
        want = min(self.read_bytes, budget, size - f.offset)
        if want <= 0:
            return 0, 0
        chunk = os.pread(f.fd, want, f.offset)
        data = f.partial + chunk
        cut = data.rfind(b"\n") + 1
        taken = 0
        if cut:
            answer = self.intake.submit(data[:cut], first_line=f.lines + 1, max_errors=5)
            taken = answer.accepted - answer.duplicates
            if answer.rejected:
                self._rejected += answer.rejected
                self._problems.extend(f"{f.path}:{e.line}: {e.error}" for e in answer.errors)
            f.lines += data.count(b"\n", 0, cut)
        f.partial = data[cut:]
        if len(f.partial) > MAX_LINE_BYTES:
            self._rejected += 1
            self._problems.append(f"{f.path}:{f.lines + 1}: a line longer than"
                                  f" {MAX_LINE_BYTES} bytes, skipped")
            f.partial = b""
        f.offset += len(chunk)
        if not f.head and f.offset >= HEAD_BYTES:
            f.head = os.pread(f.fd, HEAD_BYTES, 0)
        return taken, len(chunk)
