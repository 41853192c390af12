"""Transports: how the local side reaches the helper as a byte stream.

A transport names the argv of a process whose stdin/stdout is a byte stream to the helper's
gRPC server (`app-connect` run locally, `docker exec -i C /sync-helper/app-connect`,
`kubectl exec -i ...`, `ssh host ...`). `command()` is called for every (re)connection.
Must not import pygls, lsprotocol or terminal code.
"""

from __future__ import annotations

import shlex
from typing import Protocol, runtime_checkable

__all__ = ["Transport", "CommandTransport", "TransportError", "HELPER_ADVICE"]

# What to do when a helper that should be in the container does not answer (an injected one).
HELPER_ADVICE = ("make sure the helper runs in the container: deploy the artifact with its download "
                 "stanza so /sync-helper/app-server wraps the container's command, or attach the helper "
                 "to the running container")


class TransportError(Exception):
    """The helper cannot be reached; the message says why and what to do."""


@runtime_checkable
class Transport(Protocol):
    async def command(self) -> list[str]:
        """The argv of a process that bridges its stdin/stdout to the helper."""
        ...

    def describe(self) -> str:
        """A short description for messages."""
        ...

    # A transport may also have `advice`: what to do when the helper cannot be reached through it
    # (a sentence for the end of an error; HELPER_ADVICE when it has none).


class CommandTransport:
    """A fixed command line, e.g. ["docker", "exec", "-i", "web", "/sync-helper/app-connect"]."""

    def __init__(self, argv: list[str]):
        if not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise TransportError(f"a command transport needs a non-empty argv of strings, got {argv!r}")
        self.argv = list(argv)

    async def command(self) -> list[str]:
        return list(self.argv)

    advice = ("check that the command reaches the helper: it must run app-connect where app-server runs "
              "(e.g. docker exec -i CONTAINER /sync-helper/app-connect)")

    def describe(self) -> str:
        return shlex.join(self.argv)

    def __repr__(self) -> str:
        return f"CommandTransport({self.argv!r})"
