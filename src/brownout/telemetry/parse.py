"""Fast reader of the Prometheus text formats (OpenMetrics 1.0 and text 0.0.4).

The hot path never builds a per-sample Python object beyond the line bytes
themselves: lines are split by C-level ``bytes`` methods driven through
``map``, series keys are resolved once per distinct key through a cache, and
values and timestamps are converted to float64 by numpy in bulk. Lines the
fast path cannot take (exemplars, spaces inside label values, garbage) fall
back to a careful per-line parser that reports file and line number.

Timestamps: OpenMetrics files (ending with ``# EOF``) carry seconds; plain
Prometheus text carries milliseconds (spec/telemetry.md §3). The unit is
decided per file once its end has been seen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from brownout.errors import ParseError
from brownout.telemetry.labels import LabelError
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import IGNORED, SeriesRegistry

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]

MALFORMED = -2
_KEY_RE = re.compile(rb'[a-zA-Z_:][a-zA-Z0-9_:]*(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?')
# DCGM blank values (dcgm_structs.h): int32, int64 and fp64 blanks and the
# NOT_FOUND / NOT_SUPPORTED / NOT_PERMISSIONED codes just above each.
_INT32_BLANK = 2147483632.0
_FP64_BLANK = 140737488355328.0
_INT64_BLANK_MIN = 9.2233720368547e18


def sentinel_mask(value: F64) -> npt.NDArray[np.bool_]:
    """True where a value is one of DCGM's blank/sentinel codes, not a reading."""
    return (
        (value >= _INT64_BLANK_MIN)
        | ((value >= _INT32_BLANK) & (value <= _INT32_BLANK + 15))
        | ((value >= _FP64_BLANK) & (value <= _FP64_BLANK + 15))
    )


@dataclass
class _Columns:
    """Arrays collected for one file."""

    t: list[F64] = field(default_factory=list)
    s: list[I32] = field(default_factory=list)
    v: list[F64] = field(default_factory=list)

    def add(self, t: F64, s: I32, v: F64) -> None:
        if t.size:
            self.t.append(t)
            self.s.append(s)
            self.v.append(v)

    def arrays(self) -> tuple[F64, I32, F64]:
        if not self.t:
            return np.zeros(0), np.zeros(0, np.int32), np.zeros(0)
        return np.concatenate(self.t), np.concatenate(self.s), np.concatenate(self.v)


@dataclass
class TextParser:
    """Parses one text-format stream, chunk by chunk.

    Args:
        registry: maps series keys to ids (shared across files).
        where: file name, for error messages.
        problems: where bad lines and dropped samples are counted.
        strict: raise :class:`ParseError` on the first malformed line.
        default_ts_s: timestamp (seconds) for samples that carry none
            (live scrapes); None means such samples are malformed.
    """

    registry: SeriesRegistry
    where: str
    problems: Problems
    strict: bool = False
    default_ts_s: float | None = None
    _cache: dict[bytes, int] = field(default_factory=dict)
    _cols: _Columns = field(default_factory=_Columns)
    _untimed: _Columns = field(default_factory=_Columns)
    _line0: int = 0
    _seen_eof: bool = False
    _after_eof: bool = False

    def feed(self, chunk: bytes) -> None:
        """Parse a chunk that holds whole lines."""
        self._track_eof(chunk)
        n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
        if chunk.strip():
            self._fast(chunk)
        self._line0 += n_lines

    def _track_eof(self, chunk: bytes) -> None:
        if self._seen_eof:
            self._after_eof = self._after_eof or bool(chunk.strip())
            return
        pos = chunk.find(b"# EOF")
        while pos > 0 and chunk[pos - 1] != 10:
            pos = chunk.find(b"# EOF", pos + 1)
        if pos >= 0:
            self._seen_eof = True
            self._after_eof = bool(chunk[pos + 5:].strip())

    @property
    def is_openmetrics(self) -> bool:
        """Whether the stream has an ``# EOF`` line (OpenMetrics: seconds)."""
        return self._seen_eof

    def _fast(self, chunk: bytes) -> None:
        """Vectorised path: numpy finds the fields, one C-level split cuts them."""
        if b" # " in chunk or b"\r" in chunk or b"\t" in chunk:
            self._slow(chunk)
            return
        body = _sample_lines(chunk)
        if body is None:
            return
        fields = _three_fields(body)
        if fields is None:
            if self.default_ts_s is not None and _two_fields(body) is not None:
                self._fast_untimed(body)
            else:
                self._slow(chunk)
            return
        parts = fields.split(b"\n")
        try:
            v = np.array(parts[1::3]).astype(np.float64)
            t = np.array(parts[2::3]).astype(np.float64)
        except ValueError:
            self._slow(chunk)
            return
        ids = self._ids(parts[0::3])
        if (ids == MALFORMED).any():
            self._slow(chunk)
            return
        self._keep(self._cols, t, ids, v)

    def _fast_untimed(self, body: bytes) -> None:
        fields = _two_fields(body)
        assert fields is not None
        parts = fields.split(b"\n")
        try:
            v = np.array(parts[1::2]).astype(np.float64)
        except ValueError:
            self._slow(body)
            return
        ids = self._ids(parts[0::2])
        if (ids == MALFORMED).any():
            self._slow(body)
            return
        self._keep(self._untimed, np.zeros(v.size), ids, v)

    def _ids(self, keys: list[bytes]) -> I32:
        cache = self._cache
        ids = list(map(cache.get, keys))
        if None in ids:
            for key in {k for k, i in zip(keys, ids, strict=True) if i is None}:
                cache[key] = self._resolve(key)
            ids = list(map(cache.__getitem__, keys))
        return np.array(ids, dtype=np.int32)

    def _resolve(self, key: bytes) -> int:
        if not _KEY_RE.fullmatch(key):
            return MALFORMED
        try:
            return self.registry.id_for_key(key.decode("utf-8"))
        except (LabelError, UnicodeDecodeError):
            return MALFORMED

    def _keep(self, cols: _Columns, t: F64, ids: I32, v: F64) -> None:
        keep = ids >= 0
        finite = np.isfinite(v) & np.isfinite(t)
        sentinel = finite & sentinel_mask(v)
        self.problems.dropped_nonfinite += int((keep & ~finite).sum())
        self.problems.dropped_sentinel += int((keep & sentinel).sum())
        keep &= finite & ~sentinel
        cols.add(t[keep], ids[keep], v[keep])

    # slow path --------------------------------------------------------------
    def _slow(self, chunk: bytes) -> None:
        rows_t: list[float] = []
        rows_s: list[int] = []
        rows_v: list[float] = []
        untimed_s: list[int] = []
        untimed_v: list[float] = []
        for n, ln in enumerate(chunk.split(b"\n"), self._line0 + 1):
            if not ln.strip() or ln.lstrip()[0] == 35:
                continue
            parsed = self._parse_line(ln, n)
            if parsed is None:
                continue
            sid, value, ts = parsed
            if ts is None:
                untimed_s.append(sid)
                untimed_v.append(value)
            else:
                rows_t.append(ts)
                rows_s.append(sid)
                rows_v.append(value)
        self._keep(self._cols, np.array(rows_t, dtype=np.float64),
                   np.array(rows_s, dtype=np.int32), np.array(rows_v, dtype=np.float64))
        if untimed_s:
            zeros = np.zeros(len(untimed_s))
            self._keep(self._untimed, zeros, np.array(untimed_s, dtype=np.int32),
                       np.array(untimed_v, dtype=np.float64))

    def _parse_line(self, ln: bytes, lineno: int) -> tuple[int, float, float | None] | None:
        body = ln.split(b" # ", 1)[0].strip()  # drop an OpenMetrics exemplar
        m = _KEY_RE.match(body)
        problem = None
        if not m:
            problem = "not a sample line (bad metric name)"
        else:
            rest = body[m.end():].split()
            if m.end() < len(body) and body[m.end()] not in b" \t":
                problem = "malformed label set"
            elif len(rest) not in (1, 2):
                problem = "expected a value and an optional timestamp"
            else:
                sid = self._resolve(m.group(0))
                if sid == MALFORMED:
                    problem = "malformed label set"
                else:
                    return self._numbers(sid, rest, lineno)
        self._bad(lineno, problem)
        return None

    def _numbers(self, sid: int, rest: list[bytes], lineno: int
                 ) -> tuple[int, float, float | None] | None:
        try:
            value = float(rest[0])
            ts = float(rest[1]) if len(rest) == 2 else None
        except ValueError:
            self._bad(lineno, f"value or timestamp is not a number ({b' '.join(rest)[:40]!r})")
            return None
        if ts is not None and not math.isfinite(ts):
            self._bad(lineno, "timestamp is not finite")
            return None
        if ts is None and self.default_ts_s is None:
            self._bad(lineno, "sample has no timestamp (recordings need one)")
            return None
        return (sid, value, ts) if sid != IGNORED else None

    def _bad(self, lineno: int, problem: str) -> None:
        if self.strict:
            raise ParseError(self.where, lineno, problem)
        self.problems.malformed(self.where, lineno, problem)

    def finish(self) -> tuple[F64, I32, F64]:
        """All samples of the stream: (t_s, series, value), in file order."""
        if self._after_eof:
            self._bad(self._line0, "text after '# EOF'")
        t, s, v = self._cols.arrays()
        if not self.is_openmetrics:
            t = t / 1000.0  # Prometheus text 0.0.4 timestamps are milliseconds
        if self.default_ts_s is not None:
            ut, us, uv = self._untimed.arrays()
            t = np.concatenate([t, np.full(ut.size, self.default_ts_s)])
            s, v = np.concatenate([s, us]), np.concatenate([v, uv])
        return t, s, v


def _sample_lines(chunk: bytes) -> bytes | None:
    """The chunk without comment and blank lines, newline-separated, no final newline."""
    body = chunk.rstrip(b"\n")
    if b"#" not in body and b"\n\n" not in body:
        return body or None
    lines = [ln for ln in body.split(b"\n") if ln and ln[0] != 35 and not ln.isspace()]
    return b"\n".join(lines) if lines else None


def _field_seps(body: bytes, n_fields: int) -> npt.NDArray[np.intp] | None:
    """Positions of the spaces before the last ``n_fields - 1`` fields of every line.

    None when a line has too few spaces (the caller falls back to the slow path).
    """
    buf = np.frombuffer(body, np.uint8)
    ends = np.append(np.flatnonzero(buf == 10), buf.size)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    spaces = np.flatnonzero(buf == 32)
    j = np.searchsorted(spaces, ends)
    if (j < n_fields - 1).any():
        return None
    seps = np.stack([spaces[j - k] for k in range(1, n_fields)])
    if (seps[-1] <= starts).any() or (seps[:, :] + 1 >= ends).any():
        return None
    if n_fields == 3 and (seps[0] - seps[1] < 2).any():
        return None
    return seps.ravel()


def _with_newlines(body: bytes, seps: npt.NDArray[np.intp]) -> bytes:
    out = np.frombuffer(body, np.uint8).copy()
    out[seps] = 10
    return out.tobytes()


def _three_fields(body: bytes) -> bytes | None:
    """``key value ts`` lines rewritten as ``key\\nvalue\\nts``, or None."""
    seps = _field_seps(body, 3)
    return None if seps is None else _with_newlines(body, seps)


def _two_fields(body: bytes) -> bytes | None:
    """``key value`` lines rewritten as ``key\\nvalue``, or None."""
    seps = _field_seps(body, 2)
    return None if seps is None else _with_newlines(body, seps)


def parse_text(data: bytes, registry: SeriesRegistry, *, where: str = "<text>",
               problems: Problems | None = None, strict: bool = False,
               default_ts_s: float | None = None) -> tuple[F64, I32, F64]:
    """Parse a whole text-format document held in memory."""
    parser = TextParser(registry, where, problems if problems is not None else Problems(),
                        strict, default_ts_s)
    parser.feed(data)
    return parser.finish()
