"""An idle Watch stays open while the engine's keepalive pings it: the helper permits the pings that
the engine's channel sends (sync_helper/channel.py), instead of ending the connection with GOAWAY
"too_many_pings" after the second one, as a gRPC server does by default. Real app-server, real
app-connect, the engine's own HelperClient with a shorter ping interval so the test is short."""

from __future__ import annotations

import asyncio

import grpc.aio

from downstream_sync.sync.client import HelperClient, pb

from helper_procs import WAIT


async def test_an_idle_watch_survives_keepalive_pings(tmp_path, run_helper, bridge):
    (tmp_path / "src").mkdir()
    helper = run_helper(["--targets", "src"], cwd=tmp_path)
    client = HelperClient(f"unix:{bridge(helper).path}", keepalive_ms=1000)
    try:
        call = client.watch(since_version=0, instance_id="", snapshot=True)
        kinds = []
        while pb.FileEvent.SNAPSHOT_END not in kinds:
            msg = await asyncio.wait_for(call.read(), WAIT)
            assert msg is not grpc.aio.EOF
            kinds.append(msg.kind)
        await asyncio.sleep(8)  # about eight pings on an idle connection (GOAWAY came after two)
        (tmp_path / "src" / "late.txt").write_text("late\n")
        while True:
            msg = await asyncio.wait_for(call.read(), WAIT)
            assert msg is not grpc.aio.EOF, "the watch ended while idle"
            paths = [e.path for e in (msg.batch if msg.kind == pb.FileEvent.BATCH else [msg])]
            if "src/late.txt" in paths:
                break
    finally:
        await client.close()

