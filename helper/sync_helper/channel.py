"""How both ends of the gRPC connection are set, so that they agree: message limits and keepalive.

The engine pings an idle connection (a Watch with no events for a while) to find a bridge that
died without closing; a gRPC server by default takes pings more often than every 5 minutes on a
connection without data as abuse, and after two such pings ends it with GOAWAY "too_many_pings".
So the helper permits pings down to MIN_PING_MS apart, and the engine sends one every
KEEPALIVE_MS. Imported by the helper and by the engine; must not import grpc.
"""

from __future__ import annotations

__all__ = ["MAX_MESSAGE", "KEEPALIVE_MS", "MIN_PING_MS", "server_options", "client_options"]

MAX_MESSAGE = 8 << 20
KEEPALIVE_MS = 30_000       # the engine pings an idle connection this often
KEEPALIVE_TIMEOUT_MS = 20_000
MIN_PING_MS = 1_000         # the helper takes pings this far apart, with or without calls or data


def server_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", MIN_PING_MS),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_PING_MS),
    ]


def client_options(keepalive_ms: int = KEEPALIVE_MS) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
    ]
