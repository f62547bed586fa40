"""Send HealthEvents to NVSentinel's platform connector over gRPC (extra ``nvsentinel``).

NVSentinel's health monitors call ``datamodels.PlatformConnector/
HealthEventOccurredV1`` on the connector's Unix socket (by default
``unix:///var/run/nvsentinel.sock``); brownout does the same. The messages are
built from the protobuf JSON dicts of :mod:`brownout.interop.health_events`
with protobuf's own JSON parser, so a field NVSentinel's schema lacks fails
here, before anything is sent. grpcio and the generated stubs are imported
only when a sink is built; their types stay in this module.

Tested against a gRPC server generated from the same proto, run locally in
the tests: no real NVSentinel ran here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brownout.errors import ExecutorError, InputError

DEFAULT_TARGET = "unix:///var/run/nvsentinel.sock"


def stubs() -> tuple[Any, Any]:
    """The generated message and service modules (lazy: grpcio is optional)."""
    try:
        from brownout.interop._proto import health_event_pb2, health_event_pb2_grpc
    except ImportError as exc:
        raise InputError("nvsentinel: grpcio is not installed "
                         "(pip install 'brownout[nvsentinel]')") from exc
    except RuntimeError as exc:  # the stubs' own grpcio / protobuf version check
        raise InputError(f"nvsentinel: {exc}") from exc
    return health_event_pb2, health_event_pb2_grpc


def to_message(events: Sequence[dict[str, Any]]) -> Any:
    """A ``HealthEvents`` message from protobuf-JSON event dicts.

    Raises:
        InputError: an event the schema refuses, naming the event and the reason.
    """
    pb, _ = stubs()
    from google.protobuf import json_format
    out = pb.HealthEvents(version=1)
    for i, event in enumerate(events):
        try:
            json_format.ParseDict(event, out.events.add())
        except json_format.ParseError as exc:
            raise InputError(f"nvsentinel: events[{i}]: {exc}") from exc
    return out


class NvsentinelSink:
    """A client of the platform connector.

    Args:
        target: a gRPC target (``unix:///path.sock`` or ``host:port``).
        timeout_s: limit of one call.
    """

    def __init__(self, target: str = DEFAULT_TARGET, timeout_s: float = 10.0) -> None:
        _, grpc_stubs = stubs()  # first: a missing grpcio is one line naming the extra
        import grpc

        self.target = target
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(target)
        self._stub = grpc_stubs.PlatformConnectorStub(self._channel)

    def send(self, events: Sequence[dict[str, Any]]) -> int:
        """Send events in one call; returns how many.

        Raises:
            ExecutorError: the connector is unreachable or refuses them (code and details).
        """
        if not events:
            return 0
        import grpc

        message = to_message(events)
        try:
            self._stub.HealthEventOccurredV1(message, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise ExecutorError(f"nvsentinel: {self.target}: {code}: "
                                f"{' '.join(str(details).split())[:200]}") from exc
        return len(events)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> NvsentinelSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
