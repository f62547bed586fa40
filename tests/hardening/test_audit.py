"""The dependency audit script (benchmarks/audit_deps.py) never calls a blind audit clean."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "audit_deps.py"


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _dep(name: str, vulns: tuple[str, ...] = (), skip: str | None = None) -> dict:
    d: dict = {"name": name, "version": "1.0"}
    if skip is not None:
        d["skip_reason"] = skip
    else:
        d["vulns"] = [{"id": v, "fix_versions": []} for v in vulns]
    return d


@pytest.mark.parametrize(("deps", "code"), [
    ([_dep("a"), _dep("b")], 0),
    ([_dep("a"), _dep("b", ("PYSEC-1",))], 1),
    ([_dep("a", skip="Dependency not found on PyPI"), _dep("b")], 2),
    ([_dep("a", skip="x"), _dep("b", skip="y")], 2),  # what this network gives: never "clean"
    ([], 2),
    ([_dep("a", ("GHSA-1",)), _dep("b", skip="z")], 1),
])
def test_verdicts(audit: ModuleType, deps: list[dict], code: int) -> None:
    got, summary = audit.verdict({"dependencies": deps})
    assert got == code
    assert summary["audited"] + summary["skipped"] == len(deps)
