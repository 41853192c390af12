"""Run one session until killed: `python run_session.py PROJECT REMOTE_SRC LOCAL_DST -- ARGV...`.
Used by the tests that kill the local side with SIGKILL."""

import asyncio
import pathlib
import sys

from downstream_sync.cluster.transport import CommandTransport
from downstream_sync.sync.rules import RuleSet
from downstream_sync.sync.session import Session


async def main() -> None:
    project, remote, local = sys.argv[1:4]
    argv = sys.argv[sys.argv.index("--") + 1:]
    root = pathlib.Path(project)
    session = Session("web", RuleSet.from_download([(remote, local)], [], root), CommandTransport(argv), root)
    await session.start()
    await session.wait()


asyncio.run(main())
