"""Fan-out of published events to Watch clients, each through its own bounded queue.

Every subscriber gets every event; none takes from another. A subscriber whose queue passes its
bound (events or bytes of inline content) has its queue dropped and is marked `overflowed`: the
service then tells it to resync. Must not import grpc or watchdog; runs on the event loop only.
"""

from __future__ import annotations

import asyncio
import collections

from .wire import filedownload_pb2 as pb

__all__ = ["Hub", "Subscriber"]


class Subscriber:
    """One client's queue of pending events."""

    def __init__(self, max_events: int, max_bytes: int, seed: bool = False):
        self.seed = seed  # a seed client: it cannot take a snapshot
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.overflowed = False
        self._queue: collections.deque[pb.FileEvent] = collections.deque()
        self._bytes = 0
        self._wakeup = asyncio.Event()

    def put(self, ev: pb.FileEvent) -> None:
        size = len(ev.content) if ev.HasField("content") else 0
        if len(self._queue) >= self.max_events or self._bytes + size > self.max_bytes:
            self._queue.clear()
            self._bytes = 0
            self.overflowed = True
        else:
            self._queue.append(ev)
            self._bytes += size
        self._wakeup.set()

    def request_resync(self) -> None:
        """Drop the queue and ask for a resync (after the helper itself lost events)."""
        self._queue.clear()
        self._bytes = 0
        self.overflowed = True
        self._wakeup.set()

    def take_overflow(self) -> bool:
        was, self.overflowed = self.overflowed, False
        return was

    async def get(self) -> pb.FileEvent | None:
        """The next event, or None when the subscriber overflowed (check `take_overflow`)."""
        while True:
            if self.overflowed:
                return None
            if self._queue:
                ev = self._queue.popleft()
                if ev.HasField("content"):
                    self._bytes -= len(ev.content)
                return ev
            self._wakeup.clear()
            await self._wakeup.wait()

    def take_ready(self, max_events: int, max_bytes: int) -> list[pb.FileEvent]:
        """Events already queued, without waiting: up to `max_events`, and stopping once their inline
        content reaches `max_bytes` (the event that crosses it is included)."""
        out: list[pb.FileEvent] = []
        size = 0
        queue = self._queue
        while queue and len(out) < max_events and size < max_bytes and not self.overflowed:
            ev = queue.popleft()
            if ev.HasField("content"):
                n = len(ev.content)
                self._bytes -= n
                size += n
            out.append(ev)
        return out

    def pending(self) -> int:
        return len(self._queue)


class Hub:
    """The set of live subscribers."""

    def __init__(self, max_events: int = 10_000, max_bytes: int = 64 << 20):
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._subs: set[Subscriber] = set()

    def subscribe(self, seed: bool = False) -> Subscriber:
        sub = Subscriber(self.max_events, self.max_bytes, seed)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.discard(sub)

    def broadcast(self, ev: pb.FileEvent) -> None:
        for sub in self._subs:
            sub.put(ev)

    def resync_all(self) -> None:
        """Every client resyncs (events were lost): a seed client's call ends."""
        for sub in self._subs:
            sub.request_resync()

    def refresh_all(self) -> None:
        """Every client that takes snapshots gets a fresh one (a target appeared); seed clients go on."""
        for sub in self._subs:
            if not sub.seed:
                sub.request_resync()

    def notify(self, ev: pb.FileEvent) -> None:
        """Send a NOTICE to every client that takes snapshots (a seed client knows no such kind)."""
        for sub in self._subs:
            if not sub.seed:
                sub.put(ev)

    def __len__(self) -> int:
        return len(self._subs)
