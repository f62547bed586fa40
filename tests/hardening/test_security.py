"""Security properties, each checked against the code or the running service.

Covered elsewhere (referenced in docs/reliability.md, not repeated here):
401/403 on mutations and constant-time token comparison in behaviour
(tests/service/test_api.py::test_mutations_need_the_token,
tests/service/test_units.py::test_token_matches_only_itself), token file mode
0600 (test_units.py), hostile names shown not run in a real browser
(tests/service/test_browser.py::test_hostile_names_are_shown_not_run), SVG
escaping (test_units.py::test_svg_escapes_every_label), no CORS
(test_api.py::test_cross_origin_preflight_is_not_allowed), Host-header guard
(test_api.py::test_host_header_guard).
"""

from __future__ import annotations

import ast
import inspect
import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.service.conftest import TOKEN

from brownout.executors.kubernetes import KubernetesExecutor
from brownout.executors.slurm import SlurmExecutor, reason_for
from brownout.policy.actions import DRAIN_NODE, REBOOT_NODE, RESTART_JOB, RETURN_NODE, Action
from brownout.policy.ports import PermanentExecutorError
from brownout.service import auth
from brownout.service.config import WatchConfig
from brownout.service.server import DEFAULT_HOST

SRC = Path(__file__).resolve().parents[2] / "src" / "brownout"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("os", "execlp"), ("os", "spawnlp"),
               ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
               ("asyncio", "create_subprocess_shell"), ("pty", "spawn")}
RUNNERS = {"run", "Popen", "call", "check_call", "check_output"}


def _calls(tree: ast.AST) -> list[tuple[str, str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            base = node.func.value
            name = base.id if isinstance(base, ast.Name) else ""
            out.append((name, node.func.attr, node))
    return out


def _shell_uses(path: Path) -> list[str]:
    bad = []
    for mod, attr, call in _calls(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(SRC)}:{call.lineno}"
        if (mod, attr) in SHELL_CALLS:
            bad.append(f"{where}: {mod}.{attr}")
        for kw in call.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant)
                                          and kw.value.value is False):
                bad.append(f"{where}: shell={ast.unparse(kw.value)}")
        if mod == "subprocess" and attr in RUNNERS and call.args and isinstance(
                call.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)):
            bad.append(f"{where}: command given as a string, not an argv list")
    return bad


def test_no_shell_anywhere_in_brownout() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 50
    bad = [b for f in files for b in _shell_uses(f)]
    assert bad == []


def test_the_shell_check_catches_shells(tmp_path: Path) -> None:
    """The scanner itself finds each form (so the test above can fail)."""
    src = SRC / "_probe_for_test.py"
    body = ("import os, subprocess, asyncio\nos.system('x')\nsubprocess.run('ls', shell=True)\n"
            "subprocess.check_output(f'scontrol {n}')\nsubprocess.run(['a'], shell=flag)\n")
    try:
        src.write_text(body)
        found = _shell_uses(src)
    finally:
        src.unlink()
    assert {int(f.split(":")[1]) for f in found} == {2, 3, 4, 5} and tmp_path


HOSTILE = ["n0001; reboot", "$(reboot)", "`id`", "n0001 State=DOWN", "n0001\nn0002", "ALL",
           "n[0001-0100]", "n0001,n0002", "-h", "--help", "../../etc/passwd", "n0001\x00",
           "\uff4e0001", "", " n0001", "n0001 ", "n0001&", "n0001|cat"]


class Recorder:
    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    def __call__(self, argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
        self.argvs.append(argv)
        return subprocess.CompletedProcess(argv, 0, '{"jobs": [], "nodes": []}', "")


@pytest.mark.parametrize("kind", [DRAIN_NODE, RETURN_NODE, REBOOT_NODE, RESTART_JOB])
@settings(max_examples=60, deadline=None)
@given(name=st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20)))
def test_slurm_never_runs_a_name_outside_the_topology(kind: str, name: str) -> None:
    rec = Recorder()
    ex = SlurmExecutor(["n0001", "n0002"], runner=rec, notify=lambda _l: None)
    a = Action(kind, name, name, "f1", "test", "gpu_failed")
    if name in ("n0001", "n0002"):
        ex.execute(a)
        assert all(isinstance(x, str) for argv in rec.argvs for x in argv)
        return
    with pytest.raises(PermanentExecutorError, match="not a node of the topology"):
        ex.execute(a)
    assert rec.argvs == []


class NoApi:
    def __getattr__(self, name: str) -> Callable[..., None]:
        def call(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"the Kubernetes API was called ({name}) for a bad node name")
        return call


@pytest.mark.parametrize("name", HOSTILE)
def test_kubernetes_never_calls_the_api_for_a_bad_name(name: str) -> None:
    ex = KubernetesExecutor(["n0001"], NoApi(), notify=lambda _l: None)
    with pytest.raises(PermanentExecutorError):
        ex.execute(Action(DRAIN_NODE, name, name, "f1", "test", "gpu_failed"))


@settings(max_examples=200, deadline=None)
@given(reason=st.text(max_size=400))
def test_slurm_reason_is_one_printable_bounded_argument(reason: str) -> None:
    text = reason_for(Action(DRAIN_NODE, "n0001", "n0001", "f1", reason, "gpu_failed"))
    assert text.startswith("brownout[") and len(text) <= 240
    assert text.isprintable() and "\n" not in text and all(ord(c) < 127 for c in text)


def test_token_comparison_is_constant_time() -> None:
    src = inspect.getsource(auth.token_matches)
    assert "hmac.compare_digest" in src and "==" not in src


def test_default_bind_is_loopback() -> None:
    assert DEFAULT_HOST == "127.0.0.1" and WatchConfig().host == "127.0.0.1"
    from brownout.cli import agent, demo
    defaults = {p.name: p.default for c in (demo.command, agent.command) for p in c.params}
    assert defaults["host"] == "127.0.0.1" and defaults["bind"] == "127.0.0.1"


def test_tokens_never_reach_a_log(serve: Callable[..., httpx.Client], runner: object,
                                  caplog: pytest.LogCaptureFixture,
                                  capfd: pytest.CaptureFixture[str]) -> None:
    from brownout.service.app import create_app

    caplog.set_level(logging.DEBUG)
    c = serve(create_app(runner, TOKEN))  # type: ignore[arg-type]
    wrong = "wrong-" + TOKEN[::-1]
    for headers in (AUTH, {"Authorization": f"Bearer {wrong}"}, {"Authorization": TOKEN}):
        for verb in ("approve", "reject"):
            c.post(f"/api/approvals/no_such:key/{verb}", headers=headers)
        c.get("/api/health", headers=headers)
        c.get(f"/api/findings/{TOKEN}", headers=headers)
    out, err = capfd.readouterr()
    server_side = "\n".join(r.getMessage() for r in caplog.records  # not the test's client
                            if not r.name.startswith(("httpx", "httpcore")))
    assert caplog.records  # logging was captured at DEBUG
    for secret in (TOKEN, wrong):
        assert secret not in server_side and secret not in out and secret not in err


@pytest.mark.parametrize("how", ["cookie", "query", "form", "basic", "no-auth-origin"])
def test_approvals_are_csrf_safe(client: httpx.Client, fake: object, how: str) -> None:
    """Only the Authorization header counts: what a foreign page can send does not."""
    fake.inject_fault("gpu_failed", "n0007/gpu7")  # type: ignore[attr-defined]
    key = client.get("/api/approvals").json()["pending"][0]["key"]
    url = f"/api/approvals/{key}/approve"
    req: dict[str, object] = {
        "cookie": {"headers": {"Cookie": f"token={TOKEN}; Authorization=Bearer%20{TOKEN}"}},
        "query": {"params": {"token": TOKEN, "access_token": TOKEN}},
        "form": {"data": {"token": TOKEN, "Authorization": f"Bearer {TOKEN}"}},
        "basic": {"headers": {"Authorization": "Basic " + TOKEN}},
        "no-auth-origin": {"headers": {"Origin": "http://evil.example"}},
    }[how]
    r = client.post(url, **req)  # type: ignore[arg-type]
    assert r.status_code == 401
    assert "access-control-allow-origin" not in r.headers
    assert client.get("/api/approvals").json()["pending"][0]["key"] == key
    r = client.post(url, headers={**AUTH, "Origin": "http://evil.example"})
    assert r.status_code == 200  # the header itself is what a foreign page cannot send
    assert "access-control-allow-origin" not in r.headers
