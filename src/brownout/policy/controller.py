"""The controller: decide, guard, journal, then execute; and recover after a crash.

One :meth:`Controller.step` is::

    expire approvals -> reconcile what was in flight (read back real state)
    -> observe node states -> read the breaker -> policy.decide -> guardrails
    -> journal the decision (one transaction) -> execute what is pending.

Every action is committed to the journal before its executor is called, and
marked ``executing`` (committed) right before the call. After a crash, an
``executing`` action is reconciled by reading back the real state: done if it
took effect, pending again if it did not, ``uncertain`` (and loud) if the
backend cannot tell and repeating is not safe. So an action is never repeated
and never dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from brownout.clock import Clock, WallClock
from brownout.errors import ExecutorError
from brownout.findings import Finding
from brownout.policy.actions import DRAIN_NODE, RETURN_NODE, Action, Refusal
from brownout.policy.breaker import Breaker, BreakerReading, read_breaker
from brownout.policy.config import PolicyConfig
from brownout.policy.escalation import shared_groups
from brownout.policy.guardrails import Ledger, Validator, apply_guardrails, default_guardrails
from brownout.policy.journal import Journal
from brownout.policy.ownership import OwnershipReader, out_of_pool
from brownout.policy.ports import Executor, Observation, PermanentExecutorError
from brownout.policy.rules import PolicyInput, decide
from brownout.policy.states import (
    DRAINING,
    HEALTHY,
    IN_REPAIR,
    OUT_OF_SERVICE,
    QUARANTINED,
    RETURNED,
    SUSPECT,
    NodeStates,
    Transition,
)
from brownout.policy.statuses import EXECUTABLE, IN_FLIGHT, TERMINAL, ActionStatus
from brownout.topology import Topology
from brownout.topology.component import node_of


@dataclass(frozen=True)
class Outcome:
    """One action as this step left it."""

    action: Action
    state: str

    def to_json(self) -> dict[str, str]:
        a = self.action
        return {"action": a.kind, "component": a.component, "node": a.node,
                "finding_id": a.finding_id, "reason": a.reason, "state": self.state}


@dataclass(frozen=True)
class StepReport:
    """What one step decided, refused and did."""

    actions: tuple[Outcome, ...]
    refused: tuple[Refusal, ...]
    breaker: Breaker
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"actions": [o.to_json() for o in self.actions],
                "refused": [r.to_json() for r in self.refused],
                "breaker": "open" if self.breaker.open else "closed",
                "breaker_reason": self.breaker.reading.reason}


def topology_groups(topo: Topology, jobs: Mapping[str, tuple[str, ...]] | None = None
                    ) -> dict[str, dict[str, tuple[str, ...]]]:
    """Group memberships for the blast-radius guardrails: rack, leaf switch, job,
    and for GPU-hours budgets also cooling loop and NVLink domain."""
    leaves: dict[str, set[str]] = {n.name: set() for n in topo.nodes}
    for node in topo.nodes:
        leaves[node.name].update(nic.switch for nic in node.nics)
        leaves[node.name].add(node.leaf)
    by_job: dict[str, list[str]] = {}
    for job, nodes in (jobs or {}).items():
        for n in nodes:
            by_job.setdefault(n, []).append(job)
    return {"rack": {n.name: (n.rack,) for n in topo.nodes},
            "leaf": {n: tuple(sorted(s)) for n, s in leaves.items()},
            "job": {n: tuple(j) for n, j in by_job.items()},
            "cooling": {n.name: (n.cooling,) for n in topo.nodes},
            "nvlink_domain": {n.name: (n.nvlink_domain,) for n in topo.nodes
                              if n.nvlink_domain}}


@dataclass
class Controller:
    """Runs the policy against one executor with one journal.

    Args:
        topology: the cluster; node names are validated against it.
        executor: where actions are carried out.
        journal: the durable journal.
        config: policy settings.
        clock: injected time.
        jobs: job -> nodes it runs on (for the per-job limit), if known.
        guard: guardrails; default from ``config``.
        sleep: back-off sleeper (injected so tests do not wait).
        ownership: who tells which nodes someone else drained (default: the
            executor, when it can); see :mod:`brownout.policy.ownership`.
    """

    topology: Topology
    executor: Executor
    journal: Journal
    config: PolicyConfig = field(default_factory=PolicyConfig)
    clock: Clock = field(default_factory=WallClock)
    jobs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    guard: Validator | None = None
    sleep: Callable[[float], None] = time.sleep
    ownership: OwnershipReader | None = None
    #: nodes someone else drained, as last read (they leave the peer pool)
    foreign_drains: frozenset[str] = frozenset()

    # the step ------------------------------------------------------------
    def step(self, findings: tuple[Finding, ...], notices: tuple[Finding, ...] = ()
             ) -> StepReport:
        """Decide and execute once for a snapshot of open findings."""
        now_s = self.clock.now()
        self.journal.expire(now_s)
        touched = dict.fromkeys(self.recover(), "")
        findings = tuple(f for f in findings if self._known(f))
        states = self.journal.node_states()
        self.journal.record_transitions(self._observe(states, findings, now_s))
        breaker = self._breaker(findings, notices, now_s)
        new, refused = self._decide(states, findings, breaker, now_s)
        touched.update(dict.fromkeys(new, ""))
        executed, errors = self.execute_pending()
        touched.update(dict.fromkeys(executed, ""))
        return StepReport(self._outcomes(touched), tuple(refused), breaker, tuple(errors))

    def _known(self, f: Finding) -> bool:
        """Findings about components the topology does not know are ignored."""
        return self.topology.component_type(f.component) is not None

    def _breaker(self, findings: tuple[Finding, ...], notices: tuple[Finding, ...],
                 now_s: float) -> Breaker:
        reading = read_breaker(findings, notices, self.topology.n_nodes, self.config)
        before = _load_breaker(self.journal.meta("breaker"))
        after = before.update(reading, now_s, self.config.breaker_reset_s)
        if after != before:
            self.journal.set_meta("breaker", _dump_breaker(after))
        return after

    def _decide(self, states: NodeStates, findings: tuple[Finding, ...], breaker: Breaker,
                now_s: float) -> tuple[list[str], list[Refusal]]:
        known = self.journal.keys()
        foreign = self.foreign_drains = self._foreign()
        # an open breaker means a fleet-wide anomaly, not one rack's: no escalation
        shared = {} if breaker.open else shared_groups(self.topology)
        inp = PolicyInput(findings, out_of_pool(states.snapshot(), foreign),
                          {n: s for n in states.snapshot() if (s := states.since_s(n))},
                          now_s, shared, self._past_hangs(now_s))
        # on a node someone else drained brownout only tells: it never acts there
        proposed = [a for a in decide(inp, self.config) if a.key not in known
                    and not (a.disruptive and a.node in foreign)]
        cfg = self.config
        ledger = Ledger(now_s, self.topology.n_nodes, topology_groups(self.topology, self.jobs),
                        frozenset(n for n, s in states.snapshot().items()
                                  if s in OUT_OF_SERVICE),
                        self.journal.recent(now_s - max(cfg.window_s, cfg.rate_window_s,
                                                        cfg.cooldown_s)),
                        _quarantines(states, now_s - cfg.flap_window_s),
                        gpus={n.name: n.gpus for n in self.topology.nodes})
        guard = self.guard or default_guardrails(cfg)
        allowed, refused = apply_guardrails(proposed, _with_breaker(breaker, guard), ledger)
        decided = [(a, *self._initial_status(a, now_s)) for a in allowed]
        return self.journal.decide(decided, refused, (), now_s), refused

    def _foreign(self) -> frozenset[str]:
        """Nodes drained by someone else: out of service for the policy, never
        drained over, never returned. Unreadable now: none (the executors check
        again before a resume)."""
        reader = self.ownership if self.ownership is not None else self.executor
        if not isinstance(reader, OwnershipReader):
            return frozenset()
        try:
            return frozenset(reader.drained_by_others())
        except ExecutorError:
            return frozenset()

    def _past_hangs(self, now_s: float) -> dict[str, tuple[float, ...]]:
        """node -> when ``rank_hang`` findings there were acted on, within the window."""
        since = now_s - self.config.hang_repeat_window_s
        out: dict[str, list[float]] = {}
        for e in self.journal.entries():
            if e.action.finding_kind == "rank_hang" and e.decided_at_s >= since and e.action.node:
                out.setdefault(e.action.node, []).append(e.decided_at_s)
        return {n: tuple(ts) for n, ts in out.items()}

    def _initial_status(self, action: Action, now_s: float
                        ) -> tuple[ActionStatus, float | None]:
        mode = self.config.approval_mode
        if mode == "all" or (mode == "disruptive" and action.disruptive):
            return ActionStatus.AWAITING_APPROVAL, now_s + self.config.approval_ttl_s
        return ActionStatus.PENDING, None

    # observation ---------------------------------------------------------
    def _observe(self, states: NodeStates, findings: tuple[Finding, ...],
                 now_s: float) -> list[Transition]:
        """State changes that follow from what is seen, not from an action."""
        named = {node_of(f.component, f.component_type) for f in findings} - {""}
        busy = {e.action.node for e in self.journal.entries(IN_FLIGHT)}
        out = []
        for node in sorted(named):
            if states.state(node) in (HEALTHY, RETURNED):
                cause = "new finding" if states.state(node) == HEALTHY else "flap"
                out.append(states.move(node, SUSPECT, now_s, cause))
        for node, state in sorted(states.snapshot().items()):
            since_s = states.since_s(node) or now_s
            if state == SUSPECT and node not in named:
                out.append(states.move(node, HEALTHY, now_s, "findings closed"))
            elif state == DRAINING and node not in busy:
                out.append(states.move(node, IN_REPAIR, now_s, "drained; repair ticket open"))
            elif state == RETURNED and now_s - since_s >= self.config.probation_s:
                out.append(states.move(node, HEALTHY, now_s, "probation passed"))
        return out

    # execution -----------------------------------------------------------
    def execute_pending(self) -> tuple[list[str], list[str]]:
        """Execute every pending or approved action in decision order.

        Returns:
            the keys tried, and one error line per action that did not succeed.
        """
        keys, errors = [], []
        for entry in self.journal.entries(EXECUTABLE):
            keys.append(entry.action.key)
            err = self._execute(entry.action)
            if err:
                errors.append(err)
        return keys, errors

    def _execute(self, action: Action) -> str:
        self.journal.mark(action.key, ActionStatus.EXECUTING, self.clock.now())
        delay_s = self.config.retry_backoff_s
        for attempt in range(self.config.retry_attempts):
            try:
                self.executor.execute(action)
            except PermanentExecutorError as exc:
                self.journal.mark(action.key, ActionStatus.FAILED, self.clock.now(), error=str(exc),
                                  attempt=True)
                return f"{action.key}: {exc}"
            except ExecutorError as exc:
                if attempt + 1 == self.config.retry_attempts:
                    self.journal.mark(action.key, ActionStatus.PENDING, self.clock.now(),
                                      error=str(exc), attempt=True)
                    return f"{action.key}: {exc} (still pending)"
                self.sleep(delay_s)
                delay_s *= 2
            else:
                self._done(action)
                return ""
        return ""  # pragma: no cover - the loop always returns

    def _done(self, action: Action) -> None:
        now_s = self.clock.now()
        status = ActionStatus.DRY_RUN if self.executor.name == "dry-run" else ActionStatus.DONE
        self.journal.mark(action.key, status, now_s, attempt=True,
                          transitions=self._after(action, now_s))

    def _after(self, action: Action, now_s: float) -> list[Transition]:
        states = self.journal.node_states()
        state = states.state(action.node)
        if action.kind == DRAIN_NODE and state not in (DRAINING, IN_REPAIR):
            return [states.move(action.node, to, now_s, action.key)
                    for to in states.path_to(action.node, DRAINING)]
        if action.kind == RETURN_NODE and state in (QUARANTINED, DRAINING, IN_REPAIR):
            return [states.move(action.node, RETURNED, now_s, action.key)]
        return []

    # recovery ------------------------------------------------------------
    def recover(self) -> list[str]:
        """Reconcile actions left ``executing`` by a crash; returns their keys."""
        keys = []
        for entry in self.journal.entries((ActionStatus.EXECUTING,)):
            a = entry.action
            try:
                seen = self.executor.observe(a)
            except ExecutorError as exc:  # cannot read back now: leave it in flight, retry later
                self.journal.mark(a.key, ActionStatus.EXECUTING, self.clock.now(),
                                  error=f"interrupted; read-back failed: {exc}")
                keys.append(a.key)
                continue
            if seen is Observation.APPLIED:
                self._done(a)
            elif seen is Observation.NOT_APPLIED or self.executor.idempotent(a):
                self.journal.mark(a.key, ActionStatus.PENDING, self.clock.now(),
                                  error="interrupted; not applied, will run again")
            else:
                self.journal.mark(a.key, ActionStatus.UNCERTAIN, self.clock.now(),
                                  error="interrupted; backend cannot tell if it ran")
            keys.append(a.key)
        return keys

    def _outcomes(self, touched: Mapping[str, str]) -> tuple[Outcome, ...]:
        out = []
        for key in touched:
            e = self.journal.entry(key)
            if e is not None:
                out.append(Outcome(e.action, e.status))
        return tuple(out)


def _with_breaker(breaker: Breaker, guard: Validator) -> Validator:
    def check(action: Action, ledger: Ledger) -> Refusal | None:
        return breaker.refuse(action) or guard(action, ledger)
    return check


def _quarantines(states: NodeStates, since_s: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in states.history():
        if t.to_state == QUARANTINED and t.at_s >= since_s:
            counts[t.node] = counts.get(t.node, 0) + 1
    return counts


def _dump_breaker(b: Breaker) -> str:
    r = b.reading
    return json.dumps({"open": b.open, "last_trip_s": b.last_trip_s if b.open else None,
                       "rule": r.rule, "limit": r.limit, "observed": r.observed,
                       "reason": r.reason})


def _load_breaker(text: str) -> Breaker:
    if not text:
        return Breaker()
    raw = json.loads(text)
    reading = BreakerReading(bool(raw["open"]), raw["rule"], raw["limit"], raw["observed"],
                             raw["reason"])
    last = raw["last_trip_s"]
    return Breaker(bool(raw["open"]), float("-inf") if last is None else float(last), reading)


__all__ = ["TERMINAL", "Controller", "Outcome", "StepReport", "topology_groups"]
