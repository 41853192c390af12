"""app-server: run the user's command, watch the targets, serve FileService on a unix socket.

Flag parsing and wiring of the parts (supervisor, watcher, tracker, index, hub, service). The user's
app comes first: a failure of the sync side is logged to stderr and never stops or changes the app.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import stat
import sys
import tempfile
import threading

from .channel import server_options
from .globs import Excludes, GlobError
from .protocol import MAX_INLINE
from .supervisor import Child, CommandError, become_subreaper
from .tracker import DELETE_HOLD

log = logging.getLogger("app-server")

BACKLOG = 10_000
CLIENT_QUEUE = 10_000


def helper_version() -> str:
    try:
        from importlib.metadata import version

        return version("downstream-sync-helper")
    except Exception:
        return "unknown"


def default_socket() -> str:
    from .frozen import program_path

    return os.path.join(os.path.dirname(program_path()), "app-server.sock")


def _split(value: str) -> list[str]:
    return [v for v in (s.strip() for s in value.split(",")) if v]


def parse_args(argv: list[str]) -> argparse.Namespace:
    command: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    p = argparse.ArgumentParser(
        prog="app-server",
        usage="app-server [--targets A,B] [--excludes X,Y] [--exclude X]... [--workdir DIR] [--socket PATH] [--stdio] "
              "[-- COMMAND [ARG...]]",
        description="Runs COMMAND as its child (same stdio, environment and working folder), watches the "
                    "target folders and serves their file changes and contents over gRPC on a unix socket. "
                    "Exits with COMMAND's status (128+N when it died of signal N; 127 when it cannot start). "
                    "Without a command it only watches and serves.",
    )
    p.add_argument("--targets", default="", metavar="A,B",
                   help="folders to watch, comma-separated; relative ones are relative to the working folder")
    p.add_argument("--excludes", default="", metavar="X,Y",
                   help="doublestar globs relative to each target, comma-separated (node_modules/*, **/*.log)")
    p.add_argument("--exclude", action="append", default=[], metavar="X",
                   help="one more exclude glob, taken whole (for a pattern with a comma, such as '*.{js,ts}'); "
                        "repeatable")
    p.add_argument("--workdir", default="", metavar="DIR",
                   help="the folder relative targets are relative to (default: the current folder); "
                        "the app still runs in the current folder")
    p.add_argument("--command", default="", metavar="A,B,C",
                   help="the command as one comma-separated list (the older form; prefer '-- COMMAND ARG...')")
    p.add_argument("--socket", default=default_socket(), metavar="PATH",
                   help="the unix socket to serve on (default: app-server.sock beside this program: %(default)s)")
    p.add_argument("--stdio", action="store_true",
                   help="serve one client over stdin/stdout instead of the socket (no command allowed)")
    p.add_argument("--backlog", type=int, default=BACKLOG, metavar="N",
                   help="events kept for clients that reconnect and resume (default: %(default)s)")
    p.add_argument("--client-queue", type=int, default=CLIENT_QUEUE, metavar="N",
                   help="events a slow client may lag behind before it is told to resync (default: %(default)s)")
    p.add_argument("--delete-hold", type=float, default=DELETE_HOLD, metavar="SECONDS",
                   help="how long a vanished file's DELETE waits for more files to vanish, so that a target "
                        "removed whole is told as gone, not as every file deleted (default: %(default)s)")
    p.add_argument("--install", default=None, metavar="DIR",
                   help="copy app-server and app-connect into DIR (the init container's job) and exit")
    p.add_argument("--version", action="version", version=f"app-server {helper_version()}")
    args = p.parse_args(argv)
    if args.command and command:
        p.error("give the command either with --command or after '--', not both")
    args.argv = command or (args.command.split(",") if args.command else [])
    if args.stdio and args.argv:
        p.error("--stdio serves over stdin/stdout, which the command would share; use the socket with a command")
    args.target_list = _split(args.targets)
    args.exclude_list = _split(args.excludes) + [x for x in args.exclude if x]
    args.working_dir = os.path.abspath(args.workdir or ".")
    try:
        args.excludes_obj = Excludes(tuple(args.exclude_list))
    except GlobError as e:
        p.error(f"--excludes: {e}")
    return args


class SyncSide:
    """Watcher, index, hub and gRPC server; everything that may fail without touching the app."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.server = None
        self.watcher = None
        self.desk = None
        self.socket_path: str | None = None
        self.cleaner: asyncio.Task | None = None

    async def start(self, socket_path: str) -> None:
        _check_random_source()
        import grpc

        from .hub import Hub
        from .index import Index
        from .paths import Targets
        from .service import FileService
        from .tracker import Tracker
        from .wire import filedownload_pb2 as pb
        from .wire import filedownload_pb2_grpc as pb_grpc

        cwd = self.args.working_dir
        targets = Targets(self.args.target_list, self.args.excludes_obj, cwd)
        for name, reason in targets.skipped:
            log.warning("app-server: target %s is watched already: %s", name, reason)
        if not len(targets):
            log.warning("app-server: no --targets given; nothing is watched")
        hub = Hub(max_events=max(1, self.args.client_queue))
        index = Index(max(1, self.args.backlog), on_publish=hub.broadcast, on_notice=hub.notify)
        tracker = Tracker(index, MAX_INLINE, max(0.0, self.args.delete_hold))
        info = pb.HelperInfo(working_dir=cwd, targets=[t.name for t in targets], target_dirs=[t.dir for t in targets],
                             excludes=self.args.exclude_list, helper_version=helper_version(), max_inline=MAX_INLINE,
                             backlog=index.backlog_size)
        if sys.platform.startswith("linux"):
            from .watcher import Watcher

            self.watcher = Watcher(targets, tracker, hub.resync_all, hub.refresh_all)
            ready = self.watcher.ready
        else:
            log.error("app-server: watching needs Linux inotify; files are served but no changes are reported")
            ready = asyncio.Event()
            ready.set()
        self.server = grpc.aio.server(options=server_options())
        watcher = self.watcher

        def busy(wire: str) -> bool:
            return tracker.pending(wire) or (watcher is not None and watcher.pending(wire))

        from .transfer import TransferDesk, data_socket

        self.desk = TransferDesk(busy)
        pb_grpc.add_FileServiceServicer_to_server(FileService(targets, index, hub, ready, info, busy, self.desk,
                                                              tracker.settled),
                                                  self.server)
        _prepare_socket(socket_path)
        old = os.umask(0o177)
        try:
            port = self.server.add_insecure_port(f"unix:{socket_path}")
        finally:
            os.umask(old)
        if not port:
            raise OSError(f"cannot listen on {socket_path}")
        os.chmod(socket_path, 0o600)
        self.socket_path = socket_path
        self.desk.listen(data_socket(socket_path))
        await self.server.start()
        from . import frozen

        if frozen.is_frozen():  # app-connects killed with -9 leave their extracted files too
            self.cleaner = asyncio.create_task(_clean_extractions_every(600))
        if self.watcher is not None:
            task = asyncio.create_task(self.watcher.start())
            task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
        if self.desk is not None:
            self.desk.close()
        if self.server is not None:
            await self.server.stop(0.5)
        if self.socket_path and not self.args.stdio:
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass


async def _clean_extractions_every(seconds: float) -> None:
    from .frozen import clean_stale_extractions

    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(clean_stale_extractions)
        except OSError as e:
            log.warning("app-server: cannot clean old extracted files: %s", e)


def _check_random_source() -> None:
    """gRPC aborts the whole process when it cannot read /dev/urandom: refuse before it loads."""
    try:
        with open("/dev/urandom", "rb") as f:
            f.read(1)
    except OSError as e:
        raise OSError(f"cannot read /dev/urandom ({e.strerror}), which gRPC needs: the container must have "
                      "/dev/urandom (every runtime provides it unless /dev is replaced)") from None


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("app-server: watching failed: %s; the app runs on without sync", task.exception())


def _prepare_socket(path: str) -> None:
    """Remove a stale socket left by an earlier start; refuse to replace anything else or a live helper."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(f"{path} exists and is not a socket; remove it or choose another --socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: stale
        return
    finally:
        probe.close()
    raise OSError(f"another app-server is serving on {path}; choose another --socket")


async def _run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    child = None
    if args.argv:
        become_subreaper()
        child = Child(args.argv)
        try:
            child.start()
        except CommandError as e:
            sys.stderr.write(f"app-server: {e}\n")
            return 127
    sync = SyncSide(args)
    tmpdir = None
    try:
        if args.stdio:
            tmpdir = tempfile.mkdtemp(prefix="app-server-")
            await sync.start(os.path.join(tmpdir, "app-server.sock"))
        else:
            await sync.start(args.socket)
    except Exception as e:
        log.error("app-server: the sync side could not start: %s; the app runs on without sync", e)
        if child is None:
            return 1
    try:
        if child is not None:
            return await child.wait()
        if args.stdio:
            return await _serve_stdio(sync.socket_path)
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        await stop
        return 0
    finally:
        try:
            await asyncio.wait_for(sync.stop(), 2)
        except Exception:
            pass
        if tmpdir:
            for name in os.listdir(tmpdir):
                os.unlink(os.path.join(tmpdir, name))
            os.rmdir(tmpdir)


async def _serve_stdio(path: str) -> int:
    from .relay import relay

    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    done = loop.create_future()

    def run() -> None:
        relay(sys.stdin.fileno(), sys.stdout.fileno(), sock)
        loop.call_soon_threadsafe(lambda: done.done() or done.set_result(None))

    threading.Thread(target=run, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, lambda: done.done() or done.set_result(None))
    await done
    sock.close()
    return 0


def tune_malloc() -> None:
    """Keep 1 MiB chunk buffers in the heap between chunks instead of growing and trimming it for each
    one (with glibc's defaults every chunk costs page faults); bounded, so idle memory stays small."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 4 << 20)   # M_MMAP_THRESHOLD: chunks come from the heap
        libc.mallopt(-1, 16 << 20)  # M_TRIM_THRESHOLD: keep up to 16 MiB free before returning it
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from . import frozen

    if args.install is not None:
        from .install import main as install

        sys.exit(install(args.install))
    if frozen.is_frozen():
        frozen.clean_stale_extractions()
    if sys.version_info < (3, 11):  # watchdog 7 (InotifyFD, which the watcher uses) needs 3.11
        print(f"app-server: needs Python 3.11 or later (this is {sys.version.split()[0]}); in a container use "
              "the standalone binaries (helper/build.sh, or the helper image), which carry their own Python",
              file=sys.stderr)
        return 2
    tune_malloc()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    code = asyncio.run(_run(args))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # never wait on a hashing thread or the inotify reader


if __name__ == "__main__":
    main()
