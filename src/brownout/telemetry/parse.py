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
from types import ModuleType

import numpy as np
import numpy.typing as npt

from brownout.errors import ParseError
from brownout.telemetry.labels import LabelError
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import IGNORED, MAX_KEY_CACHE, SeriesRegistry

_scan: ModuleType | None
try:  # optional C hot loop (built at install time); the numpy path is the fallback
    from brownout.telemetry import _scan
except ImportError:  # pragma: no cover - depends on the build environment
    _scan = None

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
    use_native: bool = True
    _cache: dict[bytes, int] = field(default_factory=dict)
    _hash_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    _cols: _Columns = field(default_factory=_Columns)
    _untimed: _Columns = field(default_factory=_Columns)
    _line0: int = 0
    _seen_eof: bool = False
    _after_eof: bool = False

    def feed(self, chunk: bytes | memoryview) -> None:
        """Parse a chunk that holds whole lines (the chunk is not kept)."""
        if _scan is not None and self.use_native:
            self._feed_native(chunk)
            return
        if isinstance(chunk, memoryview):
            chunk = chunk.tobytes()
        layout = _Layout.of(chunk)
        lay: _Layout | None = layout
        if self._seen_eof:
            self._after_eof = self._after_eof or bool(chunk.strip())
        elif b"#" in chunk:
            lay = self._strip_comments(layout)
        if lay is _CAREFUL:
            self._slow(chunk)
        elif lay is not None and lay.ends.size:
            self._fast(lay, chunk)
        self._line0 += _Layout.count_lines(chunk)

    def _strip_comments(self, lay: _Layout) -> _Layout | None:
        """Drop comment lines (noting ``# EOF``).

        Returns None when only comments remain, and ``_CAREFUL`` when a '#'
        appears inside a sample line (an exemplar or a label value).
        """
        comment = lay.buf[lay.starts] == 35
        for i in np.flatnonzero(comment):
            if bytes(lay.buf[lay.starts[i]:lay.ends[i]]).strip() == b"# EOF":
                self._seen_eof = True
                rest = bytes(lay.buf[lay.ends[i]:])
                self._after_eof = bool(rest.strip())
        hashes = np.flatnonzero(lay.buf == 35)
        line_of = np.searchsorted(lay.ends, hashes)
        if (~comment[line_of]).any():
            return _CAREFUL
        return lay.without(comment)

    @property
    def is_openmetrics(self) -> bool:
        """Whether the stream has an ``# EOF`` line (OpenMetrics: seconds)."""
        return self._seen_eof

    def _fast(self, lay: _Layout, chunk: bytes) -> None:
        """Vectorised path: numpy finds the fields, one C-level split cuts them."""
        if not lay.clean:
            self._slow(chunk)
            return
        for n_fields, cols in ((3, self._cols), (2, self._untimed)):
            if n_fields == 2 and self.default_ts_s is None:
                break
            parts = lay.fields(n_fields)
            if parts is None:
                continue
            try:
                v = np.array(parts[1::n_fields]).astype(np.float64)
                t = (np.array(parts[2::3]).astype(np.float64) if n_fields == 3
                     else np.zeros(v.size))
            except ValueError:
                continue
            ids = self._ids(parts[0::n_fields])
            if (ids == MALFORMED).any():
                break
            self._keep(cols, t, ids, v)
            return
        self._slow(chunk)

    def _ids(self, keys: list[bytes]) -> I32:
        cache = self._cache
        if len(cache) > MAX_KEY_CACHE:  # a label explosion: stay bounded
            cache.clear()
        ids = list(map(cache.get, keys))
        if None in ids:
            for key in dict.fromkeys(k for k, i in zip(keys, ids, strict=True) if i is None):
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

    # native path ------------------------------------------------------------
    def _feed_native(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        while view.nbytes:
            rows = _NativeRows.scan(view)
            self._native_rows(rows, view)
            view = view[rows.consumed:]

    def _native_rows(self, rows: _NativeRows, chunk: memoryview) -> None:
        self._native_comments(rows, chunk)
        for i in np.flatnonzero(rows.status == 2):
            self._careful_row(rows, int(i), chunk)
        timed = rows.status == 0
        untimed = rows.status == 1
        if untimed.any() and self.default_ts_s is None:
            for i in np.flatnonzero(untimed):
                self._bad(self._line0 + int(rows.line[i]), "sample has no timestamp "
                          "(recordings need one)")
            untimed[:] = False
        for mask, cols in ((timed, self._cols), (untimed, self._untimed)):
            if mask.any():
                ids = self._hash_to_ids(rows, mask, chunk)
                self._keep(cols, rows.ts[mask], ids, rows.val[mask])
        self._line0 += rows.lines

    def _native_comments(self, rows: _NativeRows, chunk: memoryview) -> None:
        comments = np.flatnonzero(rows.status == 3)
        if self._seen_eof:
            self._after_eof = self._after_eof or bool(rows.status.size)
            return
        for i in comments:
            text = chunk[rows.koff[i]:rows.koff[i] + rows.klen[i]].tobytes().strip()
            if text == b"# EOF":
                self._seen_eof = True
                self._after_eof = bool(i + 1 < rows.status.size)
                return

    def _careful_row(self, rows: _NativeRows, i: int, chunk: memoryview) -> None:
        """Re-read a row the C scanner refused with the careful parser (exact message)."""
        start = int(rows.koff[i])
        rest = chunk[start:start + (1 << 20)].tobytes()
        end = rest.find(b"\n")
        line = rest if end < 0 else rest[:end]
        lineno = self._line0 + int(rows.line[i])
        parsed = self._parse_line(line, lineno)
        if parsed is None:
            return
        sid, value, ts = parsed
        cols = self._cols if ts is not None else self._untimed
        self._keep(cols, np.array([ts or 0.0]), np.array([sid], np.int32), np.array([value]))

    def _hash_to_ids(self, rows: _NativeRows, mask: npt.NDArray[np.bool_], chunk: memoryview
                     ) -> I32:
        h1, h2 = rows.h1[mask], rows.h2[mask]
        uniq, first, inverse = np.unique(h1, return_index=True, return_inverse=True)
        if not np.array_equal(h2, h2[first][inverse]):  # a 64-bit collision: resolve by key
            return self._ids([chunk[o:o + n].tobytes() for o, n in zip(rows.koff[mask].tolist(),
                                                              rows.klen[mask].tolist(),
                                                              strict=True)])
        known = self._hash_ids
        if len(known) > MAX_KEY_CACHE:  # a label explosion: stay bounded
            known.clear()
        ids_u = np.empty(uniq.size, dtype=np.int32)
        koff, klen = rows.koff[mask], rows.klen[mask]
        h1_u, h2_u = uniq.tolist(), h2[first].tolist()
        for u in np.argsort(first).tolist():  # first-seen order: ids are deterministic
            sid = known.get((h1_u[u], h2_u[u]))
            if sid is None:
                o = int(koff[first[u]])
                key = chunk[o:o + int(klen[first[u]])].tobytes()
                sid = known[(h1_u[u], h2_u[u])] = self._resolve(key)
            ids_u[u] = sid
        ids = ids_u[inverse]
        for i in np.flatnonzero(ids == MALFORMED):
            lineno = self._line0 + int(rows.line[np.flatnonzero(mask)[i]])
            self._bad(lineno, "malformed label set")
        return ids

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
        body = ln.strip()
        m = _KEY_RE.match(body)
        problem = None
        if not m:
            problem = "not a sample line (bad metric name)"
        else:
            rest = body[m.end():].split(b" # ", 1)[0].split()  # drop an OpenMetrics exemplar
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



@dataclass(frozen=True)
class _Layout:
    """Where the lines and spaces of a chunk are (numpy positions)."""

    buf: npt.NDArray[np.uint8]
    starts: npt.NDArray[np.intp]
    ends: npt.NDArray[np.intp]
    spaces: npt.NDArray[np.intp]
    clean: bool  # no tabs, carriage returns or other control bytes

    @classmethod
    def of(cls, data: bytes) -> _Layout:
        buf = np.frombuffer(data, np.uint8)
        ws = np.flatnonzero(buf < 33)
        kinds = buf[ws]
        is_nl, is_sp = kinds == 10, kinds == 32
        ends = ws[is_nl]
        if buf.size and buf[-1] != 10:
            ends = np.append(ends, buf.size)
        starts = np.empty_like(ends)
        if ends.size:
            starts[0], starts[1:] = 0, ends[:-1] + 1
        keep = ends > starts  # blank lines carry nothing
        return cls(buf, starts[keep], ends[keep], ws[is_sp], bool((is_nl | is_sp).all()))

    @staticmethod
    def count_lines(data: bytes) -> int:
        return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)

    def without(self, drop: npt.NDArray[np.bool_]) -> _Layout | None:
        """The layout of the same text with the ``drop`` lines removed."""
        if not drop.any():
            return self
        keep = ~drop
        if not keep.any():
            return None
        lengths = (self.ends - self.starts + 1)[keep]
        idx = np.repeat(self.starts[keep] - np.cumsum(np.r_[0, lengths[:-1]]), lengths)
        idx += np.arange(idx.size)
        idx = idx[idx < self.buf.size]
        body = self.buf[idx].tobytes()
        return _Layout.of(body)

    def fields(self, n_fields: int) -> list[bytes] | None:
        """Every line cut into key and its last ``n_fields - 1`` fields, flattened.

        None when some line has too few spaces.
        """
        j = np.searchsorted(self.spaces, self.ends)
        if (j < n_fields - 1).any():
            return None
        seps = [self.spaces[j - k] for k in range(1, n_fields)]
        if (seps[-1] <= self.starts).any() or (seps[0] + 1 >= self.ends).any():
            return None
        if n_fields == 3 and (seps[0] - seps[1] < 2).any():
            return None
        out = self.buf[: int(self.ends[-1])].copy()
        for sep in seps:
            out[sep] = 10
        return out.tobytes().split(b"\n") if self._contiguous() else None

    def _contiguous(self) -> bool:
        return bool(self.starts[0] == 0 and (self.starts[1:] == self.ends[:-1] + 1).all())


@dataclass(frozen=True)
class _NativeRows:
    """What the C scanner found in one chunk (see ``_scan.c``)."""

    val: F64
    ts: F64
    h1: npt.NDArray[np.uint64]
    h2: npt.NDArray[np.uint64]
    koff: npt.NDArray[np.int64]
    klen: npt.NDArray[np.int32]
    line: npt.NDArray[np.int64]
    status: npt.NDArray[np.int8]
    lines: int
    consumed: int

    @classmethod
    def scan(cls, chunk: memoryview) -> _NativeRows:
        """Scan as many lines as fit in buffers sized for ~100-byte lines."""
        cap = chunk.nbytes // 100 + 1024
        bufs = (np.empty(cap), np.empty(cap), np.empty(cap, np.uint64),
                np.empty(cap, np.uint64), np.empty(cap, np.int64), np.empty(cap, np.int32),
                np.empty(cap, np.int64), np.empty(cap, np.int8))
        assert _scan is not None
        rows, lines, consumed = _scan.scan(chunk, *bufs)
        v, t, h1, h2, koff, klen, line, status = (b[:rows] for b in bufs)
        return cls(v, t, h1, h2, koff, klen, line, status,  # type: ignore[arg-type]
                   lines=lines, consumed=consumed)


_CAREFUL = _Layout.of(b"#")  # marker: this chunk needs the careful per-line path


def parse_text(data: bytes, registry: SeriesRegistry, *, where: str = "<text>",
               problems: Problems | None = None, strict: bool = False,
               default_ts_s: float | None = None, use_native: bool = True
               ) -> tuple[F64, I32, F64]:
    """Parse a whole text-format document held in memory."""
    parser = TextParser(registry, where, problems if problems is not None else Problems(),
                        strict, default_ts_s, use_native)
    parser.feed(data)
    return parser.finish()
