"""The ledger as a table for people (rich), ETTR next to plain availability."""

from __future__ import annotations

from rich.table import Table

from brownout.recovery.ledger import CAUSES, Ledger


def _hms(seconds: float) -> str:
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}"


def ledger_table(ledger: Ledger) -> Table:
    """One row per job and a cluster row: wall, availability, ETTR, losses by cause."""
    table = Table(title="goodput ledger (lost time by cause, h:mm:ss)")
    for col in ("job", "ranks", "wall", "availability", "ETTR", *CAUSES):
        table.add_column(col, justify="left" if col == "job" else "right")
    for name, j in ledger.jobs.items():
        table.add_row(name, str(j.ranks), _hms(j.wall_s), f"{j.availability:.1%}",
                      f"{j.ettr:.1%}", *(_hms(j.lost_s[c]) for c in CAUSES))
    c = ledger.cluster_json()
    table.add_section()
    table.add_row("cluster", "", _hms(c["wall_s"]), f"{c['availability']:.1%}",
                  f"{c['ettr']:.1%}", *(_hms(c["lost_s"][k]) for k in CAUSES))
    return table
