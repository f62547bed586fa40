"""Direct scrapes of exporter ``/metrics`` endpoints (dcgm-exporter, node_exporter).

Each ``fetch`` scrapes every target once (httpx, with a timeout); samples that
carry no timestamp are stamped with the injected clock's time of the scrape.
A target that fails is reported in ``problems`` and in :attr:`last_errors`;
the others are still read. All targets failing raises :class:`SourceError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from brownout.clock import Clock
from brownout.errors import SourceError
from brownout.telemetry.frame import Frame
from brownout.telemetry.parse import TextParser
from brownout.telemetry.problems import Problems
from brownout.telemetry.series import SeriesRegistry

ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4"


class ScrapeSource:
    """Scrapes exporter endpoints on each fetch.

    Args:
        urls: full ``/metrics`` URLs.
        registry: the engine's series registry.
        clock: stamps samples without timestamps.
        timeout_s: per-request timeout.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(self, urls: Sequence[str], registry: SeriesRegistry, clock: Clock,
                 timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None) -> None:
        self.urls = list(urls)
        self.registry = registry
        self.clock = clock
        self.problems = Problems()
        self.last_errors: dict[str, str] = {}
        self._hash_ids: dict[str, dict[tuple[int, int], int]] = {}
        self._client = httpx.Client(timeout=timeout_s, transport=transport,
                                    headers={"Accept": ACCEPT})

    def close(self) -> None:
        self._client.close()

    def fetch(self, until_s: float) -> Frame:
        """Scrape every target now; ``until_s`` bounds timestamps exporters supply."""
        now_s = self.clock.now()
        ts, ss, vs = [], [], []
        self.last_errors = {}
        for url in self.urls:
            body = self._get(url)
            if body is None:
                continue
            # the label-set hashes of a target barely change between scrapes: keep them
            parser = TextParser(self.registry, url, self.problems, default_ts_s=now_s,
                                _hash_ids=self._hash_ids.setdefault(url, {}))
            parser.feed(body)
            t, s, v = parser.finish()
            if not parser.is_openmetrics and t.size and (t > now_s * 10).any():
                t = np.where(t > now_s * 10, t / 1000.0, t)
            ts.append(t)
            ss.append(s)
            vs.append(v)
        if self.urls and len(self.last_errors) == len(self.urls):
            first = next(iter(self.last_errors.items()))
            raise SourceError(f"every scrape target failed; e.g. {first[0]}: {first[1]}")
        if not ts:
            return Frame.empty(self.registry.table())
        t_all = np.concatenate(ts)
        keep = t_all <= max(until_s, now_s)
        return Frame.from_unsorted(t_all[keep], np.concatenate(ss)[keep].astype(np.int32),
                                   np.concatenate(vs)[keep], self.registry.table())

    def _get(self, url: str) -> bytes | None:
        try:
            resp = self._client.get(url)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            self.last_errors[url] = f"{type(exc).__name__}: {exc}"
            return None
        return resp.content
