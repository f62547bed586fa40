"""Real-browser tests: Debian's headless Chromium driven by Python Playwright.

Skipped, with the reason, when ``chromium`` is not on the PATH or the
``playwright`` package is missing (no browser download is ever attempted).
Screenshots go to ``$BROWNOUT_ARTIFACTS/screenshots`` (default: a temp dir).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="fastapi/uvicorn are not installed")
pytest.importorskip("uvicorn", reason="fastapi/uvicorn are not installed")
from tests.service.conftest import START_S, TOKEN

from brownout.clock import ManualClock
from brownout.service.app import create_app
from brownout.service.fake import FakeController
from brownout.service.runner import ControllerRunner
from brownout.service.server import HttpServer
from brownout.topology.generate import generate_topology
from brownout.topology.model import NicSpec, NodeSpec, SwitchSpec, Topology

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the playwright Python package is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Debian chromium is not on the PATH "
                                       "(apt-get install --no-install-recommends chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--disable-background-networking", "--no-first-run", "--disable-component-update",
         "--disable-sync"]
EVIL = "<script>window.pwned=1</script>"


def shots_dir() -> Path:
    base = Path(os.environ.get("BROWNOUT_ARTIFACTS") or tempfile.gettempdir())
    out = base / "brownout-screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


class Site:
    def __init__(self, fake: FakeController) -> None:
        self.fake = fake
        self.runner = ControllerRunner(lambda: fake, ManualClock(START_S), interval_s=0.1)
        self.runner.start()
        self.server = HttpServer(create_app(self.runner, TOKEN), "127.0.0.1", 0)
        self.url = self.server.start()

    def close(self) -> None:
        self.server.stop()
        self.runner.stop()


@pytest.fixture
def site_for() -> Iterator[Any]:
    sites: list[Site] = []

    def make(topology: Topology) -> Site:
        sites.append(Site(FakeController(topology, start_s=START_S)))
        return sites[-1]

    yield make
    for s in sites:
        s.close()


def new_page(browser: Any, csp: bool = False, **kw: Any) -> Any:
    """A page; by default with the CSP bypassed so Playwright may evaluate its waits.

    The escaping tests run both ways: escaping must hold without the CSP's help.
    """
    return browser.new_context(bypass_csp=not csp, **kw).new_page()


def evil_topology() -> Topology:
    nodes = tuple(NodeSpec(name, "r01", "cdu01", "leaf01", 4, "H100",
                           tuple(NicSpec(f"mlx5_{g}", g, "leaf01") for g in range(4)))
                  for name in ("n0001", EVIL))
    return Topology.build("evil", nodes, (SwitchSpec("leaf01", "leaf"),))


@pytest.mark.parametrize("n_nodes", [6, 37])
def test_fleet_map_renders_every_gpu(browser: Any, site_for: Any, n_nodes: int) -> None:
    topo = generate_topology(n_nodes, nodes_per_rack=4, racks_per_cooling=2)
    site = site_for(topo)
    page = new_page(browser, viewport={"width": 1400, "height": 1000})
    page.goto(site.url)
    page.wait_for_function(f"document.querySelectorAll('rect.gpu').length === {topo.n_gpus}")
    assert page.locator("rect.gpu").count() == topo.n_gpus
    assert page.locator(".domain").count() == len(topo.cooling_domains)
    assert page.locator(".rack").count() == len(topo.racks)
    assert page.locator("#fleet-count").inner_text().endswith(f"{topo.n_gpus} GPUs")
    page.close()


def test_finding_appears_and_approval_changes_journal(browser: Any, site_for: Any) -> None:
    topo = generate_topology(16, nodes_per_rack=4, racks_per_cooling=2)
    site = site_for(topo)
    page = new_page(browser, viewport={"width": 1400, "height": 1100})
    page.goto(f"{site.url}#token={TOKEN}")
    page.wait_for_selector("rect.gpu")
    assert page.locator(".finding").count() == 0
    assert "token" not in page.url  # the token is taken out of the address bar
    view = site.fake.inject_fault("gpu_overheating", "n0006/gpu3",
                                  summary="n0006/gpu3 runs 14 degC above its peers")
    card = page.locator(f'[data-finding="{view.finding.id}"]')
    card.wait_for(timeout=10_000)
    assert "n0006/gpu3 runs 14 degC above its peers" in card.inner_text()
    assert card.locator("svg.spark path").count() == 1
    key = site.fake.state().actions[0].key
    row = page.locator(f'#journal tr[data-key="{key}"]')
    row.wait_for()
    assert row.locator("td.status").inner_text() == "awaiting_approval"
    page.screenshot(path=str(shots_dir() / "dashboard-awaiting-approval.png"), full_page=True)
    row.locator("button.approve").click()
    page.wait_for_function(
        f"document.querySelector('#journal tr[data-key=\"{key}\"] td.status')"
        ".textContent === 'dry_run'", timeout=10_000)
    assert site.fake.state().action(key).status == "dry_run"
    assert row.locator("button").count() == 0
    page.locator("input[value=health]").check()
    page.screenshot(path=str(shots_dir() / "dashboard-after-approval.png"), full_page=True)
    page.close()


def test_reject_without_token_is_refused_then_works(browser: Any, site_for: Any) -> None:
    site = site_for(generate_topology(4))
    site.fake.inject_fault("host_straggler", "n0002")
    page = new_page(browser)
    page.goto(site.url)
    page.locator("button.reject").wait_for()
    page.locator("button.reject").click()
    page.locator("#approval-hint", has_text="HTTP 401").wait_for()
    assert site.fake.state().actions[0].status == "awaiting_approval"
    page.fill("#token", TOKEN)
    page.dispatch_event("#token", "change")
    page.locator("button.reject").click()
    page.wait_for_function("document.querySelector('#journal td.status')"
                           ".textContent === 'rejected'")
    page.close()


@pytest.mark.parametrize("csp", [False, True])
def test_hostile_names_are_shown_not_run(browser: Any, site_for: Any, csp: bool) -> None:
    site = site_for(evil_topology())
    site.fake.inject_fault("host_straggler", EVIL,
                           summary=f"<img src=x onerror=window.pwned=2>{EVIL}")
    page = new_page(browser, csp, viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site.url)
    page.locator(".finding").wait_for()
    time.sleep(0.3)
    assert page.evaluate("window.pwned === undefined")
    assert page.locator("#fleet text", has_text=EVIL).count() == 1
    assert EVIL in page.locator(".finding .component").inner_text()
    assert "<img src=x" in page.locator(".finding .summary").inner_text()
    assert page.locator("main script, main img").count() == 0
    page.screenshot(path=str(shots_dir() / f"dashboard-hostile-names-csp{int(csp)}.png"))
    assert errors == []
    page.close()
