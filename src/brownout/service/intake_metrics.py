"""The step intake's figures in the Prometheus text format (appended to ``/metrics``).

Rendered on every scrape from :class:`~brownout.service.intake.IntakeStats`
(the intake moves between controller snapshots, so this part is not cached).
"""

from __future__ import annotations

from brownout.service.intake import IntakeStats
from brownout.service.metrics import _Writer
from brownout.telemetry.step_lines import REASONS


def render_intake_metrics(s: IntakeStats) -> str:
    """Exposition text of the intake's counters and queue."""
    w = _Writer()
    w.family("brownout_intake_records_accepted_total", "counter",
             "Step records taken by the intake (pushed or tailed), duplicates excluded.",
             [({}, s.accepted_total)])
    w.family("brownout_intake_records_duplicate_total", "counter",
             "Step records received again (same job, rank, step, ts) and counted once.",
             [({}, s.duplicate_total)])
    w.family("brownout_intake_records_rejected_total", "counter",
             "Step record lines refused, by reason.",
             [({"reason": r}, s.rejected_total.get(r, 0)) for r in REASONS])
    w.family("brownout_intake_batches_refused_total", "counter",
             "Batches turned away (429) because the intake queue was full.",
             [({}, s.refused_batches_total)])
    w.family("brownout_intake_client_dropped_total", "counter",
             "Step records the training hooks report they dropped (controller unreachable).",
             [({}, s.client_dropped_total)])
    w.family("brownout_intake_queue_records", "gauge",
             "Step records queued for the controller.", [({}, s.queue_records)])
    w.family("brownout_intake_queue_capacity_records", "gauge",
             "The intake queue's bound.", [({}, s.capacity_records)])
    w.family("brownout_intake_lag_seconds", "gauge",
             "Wall seconds the oldest queued step record has waited (0 when empty).",
             [({}, s.lag_s)])
    w.family("brownout_intake_last_wait_seconds", "gauge",
             "Wall seconds the oldest record of the last drain had waited in the queue.",
             [({}, s.last_wait_s)])
    return "\n".join(w.lines) + "\n"
