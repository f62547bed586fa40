"""``brownout agent`` through the CLI: the fake NVML stands in for pynvml."""

from __future__ import annotations

import subprocess
import sys

import pytest

from brownout.agent.fake import NVML_ERROR_LIBRARY_NOT_FOUND, FakeNvml, h100_node
from brownout.cli.main import main

from .helpers import read_back


def test_once_prints_metrics(monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(h100_node(2)))
    assert main(["agent", "--once", "--hostname", "n0001"]) == 0
    got = read_back(capsys.readouterr().out, gpus=2)
    assert got[("DCGM_FI_DEV_POWER_USAGE", 1)] == pytest.approx(71.234)


def test_no_driver_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(init_error=NVML_ERROR_LIBRARY_NOT_FOUND))
    assert main(["agent", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NVML cannot start" in err and "Traceback" not in err


def test_without_nvidia_ml_py(monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    assert main(["agent", "--once"]) == 2
    assert "pip install 'brownout[nvml]'" in capsys.readouterr().err


def test_real_pynvml_without_gpu_exits_2() -> None:
    """The real nvidia-ml-py on a host without a driver: one line, exit 2."""
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this host has an NVIDIA driver")
    proc = subprocess.run([sys.executable, "-m", "brownout.cli.main", "agent", "--once"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("brownout: NVML cannot start") and proc.stderr.count("\n") == 1


def test_core_and_agent_package_do_not_import_pynvml() -> None:
    code = ("import sys, brownout.topology, brownout.telemetry.parse, brownout.detect.engine, "
            "brownout.agent, brownout.agent.nvml, brownout.agent.agent, brownout.cli.agent; "
            "print('pynvml' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_serves_metrics_until_interrupted() -> None:
    """The real command in a subprocess (fake NVML injected), scraped, then Ctrl-C."""
    import re
    import signal

    import httpx

    code = ("import sys; from brownout.agent.fake import FakeNvml, h100_node; "
            "sys.modules['pynvml'] = FakeNvml(h100_node(4)); "
            "from brownout.cli.main import main; "
            "sys.exit(main(['agent', '--port', '0', '--interval', '0.2', '--hostname', 'n0001']))")
    with subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", line)
            assert m, line
            resp = httpx.get(f"http://127.0.0.1:{m.group(1)}/metrics", timeout=10)
            assert resp.status_code == 200
            got = read_back(resp.text, gpus=4)
            assert got[("DCGM_FI_DEV_XID_ERRORS", 3)] == 0  # the Xid watcher runs
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0  # generous: a loaded 2-core runner is slow
        finally:
            if proc.poll() is None:
                proc.kill()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_stops_cleanly_on_signal_even_if_parent_ignored_sigint(sig: str) -> None:
    """A launcher (nohup, some supervisors, a test runner) may start the agent with SIGINT
    ignored, which Python keeps: Ctrl-C then did nothing. SIGTERM (systemd, Kubernetes)
    killed it without its clean exit. Both now stop it with exit 0."""
    import re
    import signal

    import httpx

    code = ("import sys; from brownout.agent.fake import FakeNvml, h100_node; "
            "sys.modules['pynvml'] = FakeNvml(h100_node(2)); "
            "from brownout.cli.main import main; "
            "sys.exit(main(['agent', '--port', '0', '--interval', '0.2', '--hostname', 'n0001']))")
    # a launcher that ignores SIGINT, then execs the agent (the disposition is inherited)
    launcher = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                f"os.execv(sys.executable, [sys.executable, '-c', {code!r}])")
    with subprocess.Popen([sys.executable, "-c", launcher], stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stderr is not None
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", proc.stderr.readline())
            assert m
            assert httpx.get(f"http://127.0.0.1:{m.group(1)}/metrics", timeout=10).status_code \
                == 200
            proc.send_signal(getattr(signal, sig))
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
