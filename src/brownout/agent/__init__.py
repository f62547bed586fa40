"""Node agent: read the host's GPUs through NVML and serve dcgm-exporter's ``/metrics``.

An edge adapter: it needs ``nvidia-ml-py`` (``pip install 'brownout[nvml]'``),
imported only by :func:`load_nvml`, never by the core. Tests use
:class:`brownout.agent.fake.FakeNvml` in its place.
"""

from __future__ import annotations

import importlib
from typing import Any

from brownout.errors import SourceError


def load_nvml() -> Any:
    """Import ``pynvml`` (nvidia-ml-py) or fail with one clear line.

    Raises:
        SourceError: the package is not installed.
    """
    try:
        return importlib.import_module("pynvml")
    except ImportError as exc:
        raise SourceError("the agent needs NVIDIA's NVML bindings: "
                          "pip install 'brownout[nvml]' (nvidia-ml-py)") from exc
