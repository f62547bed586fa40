"""A Prometheus-compatible server (Prometheus, Thanos, Mimir, VictoriaMetrics) via its HTTP API.

One ``query_range`` per metric family per time chunk (never per series),
retried with exponential backoff; a server that stays down raises a
:class:`SourceError` with one clear line. With ``raw=True`` each chunk is
instead one instant query of a range selector (``family[Ns]``) per family,
which returns the raw samples with their own timestamps: no lookback fill,
so a series that stops is seen to stop at once. Results are keyed to topology
components by the same :class:`SeriesRegistry` as every other source.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

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
    """

    def __init__(self, url: str, registry: SeriesRegistry, start_s: float, *,
                 step_s: float = 15.0, chunk_s: float = 3600.0, retries: int = 4,
                 timeout_s: float = 30.0, families: Sequence[str] = DEFAULT_FAMILIES,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None, raw: bool = False) -> None:
        self.url = url.rstrip("/")
        self.registry = registry
        self.step_s, self.chunk_s, self.retries = step_s, chunk_s, retries
        self.families = tuple(families)
        self.raw = raw
        self.problems = Problems()
        self.queries = 0
        self._sleep = sleep
        self._next_s = start_s
        self._client = httpx.Client(timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._client.close()

    def fetch(self, until_s: float) -> Frame:
        """Samples on the step grid from where the last fetch stopped up to ``until_s``.

        Query points lie on ``start_s + k * step_s``; each chunk covers at most
        ``chunk_s`` seconds and the next chunk starts one step after the last.
        The cursor moves only when the whole fetch succeeded: if Prometheus
        fails part-way, the next fetch reads the same span again, so nothing
        read before the failure is lost. In raw mode a sample exactly on a
        chunk border (range selectors are closed at both ends in Prometheus
        2.x) is kept once.
        """
        frames = []
        per_chunk = max(int(self.chunk_s // self.step_s), 1)
        next_s = self._next_s
        while next_s <= until_s:
            n = min(int((until_s - next_s) // self.step_s), per_chunk - 1)
            end_s = next_s + n * self.step_s
            t, s, v = self._chunk(next_s, end_s)
            keep = (t > next_s - self.step_s) & (t <= end_s) if self.raw else slice(None)
            frames.append((t[keep], s[keep], v[keep]))
            next_s = end_s + self.step_s
        self._next_s = next_s
        if not frames:
            return Frame.empty(self.registry.table())
        return Frame.from_unsorted(np.concatenate([f[0] for f in frames]),
                                   np.concatenate([f[1] for f in frames]),
                                   np.concatenate([f[2] for f in frames]), self.registry.table())

    def _chunk(self, start_s: float, end_s: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ts: list[np.ndarray] = []
        ss: list[np.ndarray] = []
        vs: list[np.ndarray] = []
        for family in self.families:
            for series in self._query(family, start_s, end_s):
                self._add(series, ts, ss, vs)
        if not ts:
            return np.zeros(0), np.zeros(0, np.int32), np.zeros(0)
        return np.concatenate(ts), np.concatenate(ss).astype(np.int32), np.concatenate(vs)

    def _add(self, series: dict[str, object], ts: list[np.ndarray], ss: list[np.ndarray],
             vs: list[np.ndarray]) -> None:
        labels = dict(series.get("metric") or {})  # type: ignore[call-overload]
        name = str(labels.pop("__name__", ""))
        sid = self.registry.id_for(name, {str(k): str(v) for k, v in labels.items()})
        values = series.get("values") or []
        if sid == IGNORED or not values:
            return
        arr = np.array(values, dtype=object)
        t = arr[:, 0].astype(np.float64)
        v = np.array([float(x) for x in arr[:, 1]])  # values arrive as strings ("NaN", "+Inf")
        good = np.isfinite(v)
        self.problems.dropped_nonfinite += int((~good).sum())
        bad_sentinel = good & sentinel_mask(v)
        self.problems.dropped_sentinel += int(bad_sentinel.sum())
        good &= ~bad_sentinel
        ts.append(t[good])
        ss.append(np.full(int(good.sum()), sid, dtype=np.int32))
        vs.append(v[good])

    def _query(self, family: str, start_s: float, end_s: float) -> list[dict[str, object]]:
        if self.raw:  # samples in (start - step, end]: the grid point before start is covered
            window_ms = round((end_s - start_s + self.step_s) * 1000)
            path, params = "query", {"query": f"{family}[{window_ms}ms]", "time": f"{end_s:.3f}"}
        else:
            path, params = "query_range", {"query": family, "start": f"{start_s:.3f}",
                                           "end": f"{end_s:.3f}", "step": f"{self.step_s:g}s"}
        last = ""
        for attempt in range(self.retries):
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
