"""A Prometheus-compatible server (Prometheus, Thanos, Mimir, VictoriaMetrics) via its HTTP API.

One ``query_range`` per metric family per time chunk (never per series; a
few families in flight at once), retried with exponential backoff; a server that stays down raises a
:class:`SourceError` with one clear line. With ``raw=True`` each chunk is
instead one instant query of a range selector (``family[Ns]``) per family,
which returns the raw samples with their own timestamps: no lookback fill,
so a series that stops is seen to stop at once. Results are keyed to topology
components by the same :class:`SeriesRegistry` as every other source.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx
import numpy as np

from brownout.errors import InputError, SourceError
from brownout.telemetry.frame import Frame
from brownout.telemetry.metrics import ALIASES, METRICS
from brownout.telemetry.parse import sentinel_mask
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import IGNORED, SeriesRegistry

DEFAULT_FAMILIES = tuple(m.name for m in METRICS) + tuple(ALIASES)


class PrometheusSource:
    """Reads raw samples of the catalogued metrics from a Prometheus HTTP API.

    Args:
        url: base URL, e.g. ``http://127.0.0.1:9090``.
        registry: the engine's series registry.
        start_s: first timestamp to read.
        step_s: query resolution (use the scrape interval).
        chunk_s: seconds of data per query.
        retries: attempts per query before giving up.
        sleep: injected sleep for backoff (tests pass a no-op).
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        raw: read raw samples with range selectors instead of ``query_range``.
        parallel: family queries kept in flight at once.
    """

    def __init__(self, url: str, registry: SeriesRegistry, start_s: float, *,
                 step_s: float = 15.0, chunk_s: float = 3600.0, retries: int = 4,
                 timeout_s: float = 30.0, families: Sequence[str] = DEFAULT_FAMILIES,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None, raw: bool = False,
                 parallel: int = 4) -> None:
        self.url = url.rstrip("/")
        self.registry = registry
        self.step_s, self.chunk_s, self.retries = step_s, chunk_s, retries
        self.families = tuple(families)
        self.raw = raw
        self.problems = Problems()
        self.queries = 0
        self._sleep = sleep
        self._next_s = start_s
        self._sids: dict[tuple[Any, ...], int] = {}
        self._carry: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # read, not handed over
        self.parallel = max(int(parallel), 1)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout_s, transport=transport)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._client.close()

    def fetch(self, until_s: float) -> Frame:
        """Samples on the step grid from where the last fetch stopped up to ``until_s``.

        Query points lie on ``start_s + k * step_s``; each chunk covers at most
        ``chunk_s`` seconds and the next chunk starts one step after the last.
        The cursor moves chunk by chunk: if Prometheus fails part-way, the
        chunks read before the failure are kept and handed over with the next
        fetch that succeeds, and the failed chunk is read again then, so
        nothing is lost or read twice, and a controller that fell behind
        catches up one bounded chunk at a time. In raw mode a sample exactly on
        a chunk border (range selectors are closed at both ends in Prometheus
        2.x) is kept once.
        """
        frames, self._carry = self._carry, []
        per_chunk = max(int(self.chunk_s // self.step_s), 1)
        while self._next_s <= until_s:
            next_s = self._next_s
            n = min(int((until_s - next_s) // self.step_s), per_chunk - 1)
            end_s = next_s + n * self.step_s
            try:
                t, s, v = self._chunk(next_s, end_s)
            except SourceError:
                self._carry = frames
                raise
            keep = (t > next_s - self.step_s) & (t <= end_s) if self.raw else slice(None)
            frames.append((t[keep], s[keep], v[keep]))
            self._next_s = end_s + self.step_s
        if not frames:
            return Frame.empty(self.registry.table())
        return Frame.from_unsorted(np.concatenate([f[0] for f in frames]),
                                   np.concatenate([f[1] for f in frames]),
                                   np.concatenate([f[2] for f in frames]), self.registry.table())

    def _chunk(self, start_s: float, end_s: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every family's samples in the chunk, as three columns.

        One pass over the answer's series (the series id cached by label set),
        then one conversion of all values: at 16,384 GPUs an answer holds
        327,680 series, and per-series numpy calls cost more than the query.
        """
        sids: list[int] = []
        counts: list[int] = []
        flat: list[Any] = []
        for family, result in self._answers(start_s, end_s):
            for series in result:
                values = series.get("values") or []
                sid = self._sid(series, family) if values else IGNORED
                if sid != IGNORED:
                    sids.append(sid)
                    counts.append(len(values))  # type: ignore[arg-type]
                    flat.extend(values)  # type: ignore[arg-type]
        if not flat:
            return np.zeros(0), np.zeros(0, np.int32), np.zeros(0)
        try:  # values arrive as strings ("NaN", "+Inf")
            t = np.fromiter((p[0] for p in flat), np.float64, count=len(flat))
            v = np.array([p[1] for p in flat], dtype=np.float64)
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise SourceError(f"Prometheus at {self.url} answered malformed sample values "
                              f"({type(exc).__name__}: {exc})") from exc
        s = np.repeat(np.array(sids, np.int32), counts)
        good = np.isfinite(v)
        self.problems.dropped_nonfinite += int((~good).sum())
        bad_sentinel = good & sentinel_mask(v)
        self.problems.dropped_sentinel += int(bad_sentinel.sum())
        good &= ~bad_sentinel
        return t[good], s[good], v[good]

    def _answers(self, start_s: float, end_s: float
                 ) -> Iterator[tuple[str, list[dict[str, object]]]]:
        """Each family's answer, in family order. The first family is asked alone (a
        server that is down costs one family's retries); then ``parallel`` at once."""
        if not self.families:
            return
        first, rest = self.families[0], iter(self.families[1:])
        yield first, self._query(first, start_s, end_s)
        pool = self._pool()
        pending: deque[tuple[str, Future[list[dict[str, object]]]]] = deque(
            (f, pool.submit(self._query, f, start_s, end_s))
            for f in itertools.islice(rest, self.parallel))
        try:
            while pending:
                family, future = pending.popleft()
                result = future.result()
                nxt = next(rest, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(self._query, nxt, start_s, end_s)))
                yield family, result
        finally:
            for _, future in pending:  # a failure: what has not started never will
                future.cancel()

    def _pool(self) -> ThreadPoolExecutor:
        """Threads that keep ``parallel`` family queries in flight: Prometheus evaluates
        one while the answer of another is decoded here."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.parallel, "brownout-prometheus")
        return self._executor

    def _sid(self, series: dict[str, object], family: str) -> int:
        """Series id of an answer's label set (cached; bounded like the registry's key cache)."""
        metric = series.get("metric") or {}
        if not isinstance(metric, dict):
            raise SourceError(f"Prometheus at {self.url} answered a malformed series for {family}")
        try:
            key = tuple(metric.items())
            sid = self._sids.get(key)
        except TypeError as exc:  # a label value that is not a string
            raise SourceError(f"Prometheus at {self.url} answered malformed labels for "
                              f"{family}") from exc
        if sid is None:
            labels = {str(k): str(v) for k, v in metric.items()}
            sid = self.registry.id_for(labels.pop("__name__", ""), labels)
            if len(self._sids) >= self.registry.key_cache_limit:
                self._sids.clear()
            self._sids[key] = sid
        return sid

    def _query(self, family: str, start_s: float, end_s: float) -> list[dict[str, object]]:
        if self.raw:  # samples in (start - step, end]: the grid point before start is covered
            window_ms = round((end_s - start_s + self.step_s) * 1000)
            path, params = "query", {"query": f"{family}[{window_ms}ms]", "time": f"{end_s:.3f}"}
        else:  # step as float seconds: Prometheus refuses a fractional duration like "0.5s"
            path, params = "query_range", {"query": family, "start": f"{start_s:.3f}",
                                           "end": f"{end_s:.3f}", "step": f"{self.step_s:g}"}
        last = ""
        for attempt in range(self.retries):
            with self._lock:
                self.queries += 1
            try:
                resp = self._client.get(f"{self.url}/api/v1/{path}", params=params)
                if resp.status_code < 500 and resp.status_code != 429:
                    return self._result(resp, family)
                last = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt + 1 < self.retries:  # no pointless wait before giving up
                self._sleep(min(0.5 * 2 ** attempt, 8.0))
        raise SourceError(f"Prometheus at {self.url} is unavailable after {self.retries} "
                          f"attempts ({last})")

    def _result(self, resp: httpx.Response, family: str) -> list[dict[str, object]]:
        try:
            body = resp.json()
        except ValueError as exc:
            raise SourceError(f"Prometheus at {self.url} answered non-JSON for {family}") from exc
        if body.get("status") != "success":
            raise SourceError(f"Prometheus at {self.url} refused query {family}: "
                              f"{body.get('errorType', '?')}: {body.get('error', '?')}")
        result = body.get("data", {}).get("result", [])
        return result if isinstance(result, list) else []


def parse_time(text: str, flag: str = "time") -> float:
    """Unix seconds from ``text``: a number, or RFC 3339 (``2025-11-25T10:00:00Z``).

    Raises:
        InputError: neither form (naming ``flag``), or RFC 3339 without a zone.
    """
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(f"{flag} '{text}' is neither unix seconds nor RFC 3339") from exc
    if when.tzinfo is None:
        raise InputError(f"{flag} '{text}' needs a time zone (e.g. Z or +00:00)")
    return when.timestamp()


def read_range(url: str, start: str, end: str, registry: SeriesRegistry, *,
               raw: bool = True, step_s: float = 1.0, chunk_s: float = 3600.0,
               retries: int = 4) -> tuple[Frame, Problems]:
    """Every catalogued sample Prometheus holds in ``[start, end]`` (what ``detect`` reads).

    By default raw samples (``raw=True``): the detectors see exactly what was
    scraped, at the scrape timestamps, as from a recording; ``step_s`` then
    only sets the query grid, so 1 s loses nothing at either end. With
    ``raw=False`` one ``query_range`` per family per chunk at ``step_s``
    (use the scrape interval).

    Raises:
        InputError: bad or reversed times.
        SourceError: Prometheus unreachable or refusing queries after retries.
    """
    start_s, end_s = parse_time(start, "--start"), parse_time(end, "--end")
    if end_s <= start_s:
        raise InputError(f"--end ({end}) must be after --start ({start})")
    src = PrometheusSource(url, registry, start_s, step_s=step_s, chunk_s=chunk_s,
                           retries=retries, raw=raw)
    try:
        frame = src.fetch(end_s)
    finally:
        src.close()
    return frame, src.problems
