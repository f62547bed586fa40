"""Interop in the live controller (``brownout watch``): the twin, verdicts in, findings out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from brownout.clock import ManualClock
from brownout.errors import ExecutorError
from brownout.findings import Finding, Lifecycle
from brownout.interop.health_events import rfc3339
from brownout.interop.live import HealthEventPublisher, LiveInterop
from brownout.service.config import WatchConfig, load_watch_config
from brownout.service.feeds import SimulatorFeed
from brownout.service.wiring import live_interop, plan_controller

T0 = 1_764_003_600.0


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.down = False

    def send(self, events: list[dict[str, Any]]) -> int:
        if self.down:
            raise ExecutorError("nvsentinel: unix:///x.sock: UNAVAILABLE: connection refused")
        self.batches.append(events)
        return len(events)


def _f(fid: str, resolved: float | None = None) -> Finding:
    return Finding(fid, "gpu_degraded", "n0001/gpu2", "gpu", T0, T0 + 60, 0.9, "major", "slow",
                   {}, "drain_node", lifecycle=Lifecycle(resolved_at_s=resolved))


def test_health_events_go_once_per_opening_and_resolution_and_retry_after_outage() -> None:
    sink = Sink()
    pub = HealthEventPublisher(sink)
    sink.down = True
    assert pub([_f("f-1")], T0)[0].endswith("UNAVAILABLE: connection refused")
    sink.down = False
    assert pub([_f("f-1")], T0 + 15) == [] and pub([_f("f-1")], T0 + 30) == []
    assert pub([_f("f-1", T0 + 100), _f("f-2", T0 + 100)], T0 + 120) == []
    sent = [(e["metadata"]["brownout.finding_id"], e["isHealthy"]) for b in sink.batches
            for e in b]
    assert sent == [("f-1", False), ("f-1", True)]  # f-2 opened and closed unseen: nothing


def test_sources_refresh_on_their_interval_and_keep_verdicts_through_an_outage() -> None:
    calls: list[float] = []
    from brownout.interop.verdicts import Verdict

    def source() -> list[Verdict]:
        calls.append(1)
        if len(calls) == 2:
            raise ExecutorError("kubernetes: list nodes: API server unreachable")
        return [Verdict("npd", "GcmSmiEccProblem", "n0001", None, "ecc", (), False, True,
                        T0, "ecc")]

    live = LiveInterop(sources=[source], refresh_s=60.0)
    for t, n_calls, errors in [(T0, 1, 0), (T0 + 30, 1, 0), (T0 + 60, 2, 1), (T0 + 120, 3, 0)]:
        fs, _, errs = live.before_policy((_f("f-1"),), (), t)
        assert (len(calls), len(errs)) == (n_calls, errors)
        assert fs[0].confidence > 0.9  # the last good verdicts still count


def test_watch_config_reads_the_interop_section(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(
        "source: {kind: prometheus, url: http://prom:9090}\ntopology: topo.yaml\n"
        "interop: {verdicts: [events.jsonl], publish_kubernetes: true,"
        " nvsentinel: 'unix:///var/run/nvsentinel.sock', nvsentinel_remediate: false}\n")
    cfg = load_watch_config(tmp_path / "w.yaml")
    assert cfg.verdicts == (str(tmp_path / "events.jsonl"),) and cfg.publish_kubernetes
    assert cfg.nvsentinel == "unix:///var/run/nvsentinel.sock" and not cfg.verdicts_kubernetes
    assert live_interop(WatchConfig()) is None


@pytest.mark.slow
def test_watch_on_the_twin_joins_verdicts_and_publishes(tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    from npd_api import NodeApi, NodeApiServer

    from brownout.interop.k8s import KubernetesPublisher, core_api
    from brownout.interop.live import ConditionPublisher

    probe = plan_controller(WatchConfig(source="simulator", scenario="gpu_degraded", seed=3),
                            persistent=False, wall=ManualClock(0.0)).factory()
    assert isinstance(probe.feed, SimulatorFeed)
    truth = probe.feed.sim.truth()[0]
    probe.close()
    node, gpu = truth.component.split("/gpu")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({
        "version": 1, "agent": "gpu-health-monitor", "componentClass": "GPU",
        "checkName": "GpuMemWatch", "message": "row remap pending", "errorCode": ["DCGM_FR"],
        "entitiesImpacted": [{"entityType": "GPU", "entityValue": gpu}],
        "generatedTimestamp": rfc3339(truth.onset + 60), "nodeName": node}) + "\n")
    cfg = WatchConfig(source="simulator", scenario="gpu_degraded", seed=3, mode="approval",
                      executor="simulator", engine_tick_s=30.0, state_dir=str(tmp_path),
                      verdicts=(str(events),))
    ctl = plan_controller(cfg, persistent=False, wall=ManualClock(0.0)).factory()
    template = json.loads((Path(__file__).parents[1] / "fixtures" / "npd" / "nodes_gcm.json")
                          .read_text())["items"][0]
    api = NodeApi(nodes={n: {**template, "metadata": {**template["metadata"], "name": n}}
                         for n in ctl.topology.node_index})
    sink = Sink()
    try:
        with NodeApiServer(api) as server:
            assert ctl.interop is not None
            ctl.interop.publishers = [
                ConditionPublisher(KubernetesPublisher(core_api(host=server.url))),
                HealthEventPublisher(sink)]
            now = ctl.state().health.now_s
            while now < truth.onset + 1800.0:
                now += 60.0
                ctl.tick(now)
            st = ctl.state()
            waiting = [a for a in st.actions if a.status == "awaiting_approval"]
            assert [(a.kind, a.node) for a in waiting] == [("drain_node", node)]
            joined, _ = ctl._open_joined(now)
            (f,) = [f for f in joined if f.kind == "gpu_degraded"]
            assert f.evidence["node_verdicts"][0]["check"] == "GpuMemWatch"
            conds = {c["type"]: c for c in api.nodes[node]["status"]["conditions"]}
            assert conds["BrownoutGpuDegraded"]["status"] == "True"
            assert [e["reason"] for e in api.events] == ["GpuDegraded"]
            sent = [e for b in sink.batches for e in b]
            assert [(e["checkName"], e["nodeName"]) for e in sent] == [
                ("BrownoutGpuDegraded", node)]
            assert not [e for e in st.health.errors if "kubernetes" in e or "nvsentinel" in e]
    finally:
        ctl.close()


class FlakyWriter:
    """A KubernetesPublisher stand-in whose API server is down for a while."""

    def __init__(self) -> None:
        self.down = True
        self.conditions: dict[str, list[Any]] = {}
        self.events: list[Any] = []

    def published(self) -> dict[str, list[Any]]:
        return {}

    def set_conditions(self, node: str, conditions: list[Any]) -> None:
        if self.down:
            raise ExecutorError(f"kubernetes: patch node {node} status: API server unreachable")
        self.conditions[node] = list(conditions)

    def post_event(self, event: Any) -> None:
        if self.down:
            raise ExecutorError("kubernetes: create event: API server unreachable")
        self.events.append(event)


def test_an_outage_backs_off_and_conditions_go_out_once_it_ends() -> None:
    from brownout.interop.live import ConditionPublisher
    writer = FlakyWriter()
    live = LiveInterop(publishers=[ConditionPublisher(writer)], backoff_s=60.0)
    assert len(live.after_policy([_f("f-1")], T0)) == 2  # the condition and the event
    writer.down = False
    assert live.after_policy([_f("f-1")], T0 + 15) == []  # backing off: not even tried
    assert writer.conditions == {}
    assert live.after_policy([_f("f-1")], T0 + 60) == []
    (cond,) = writer.conditions["n0001"]
    assert (cond.status, cond.last_transition_s) == ("True", T0)
    assert writer.events == []  # the Event of the transition was lost: best effort
