"""The `downstream-sync` command: start, pull, resolve, validate, status, lsp, inject, kustomize, skaffold
and demo.

A thin face: parses arguments, loads the project (config/), builds rules (sync/) and transports
(cluster/), runs sessions and prints what they do (terminal.py). Heavy modules are imported
inside the subcommands that need them, so the command starts fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import signal
import sys
import time
from pathlib import Path

PROG = "downstream-sync"
EXIT_OK, EXIT_FAIL, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


class UserError(Exception):
    """A problem to report in one line, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAIL):
        super().__init__(message)
        self.code = code


def _err(message: str) -> None:
    """One error line on stderr; text from a container in it is escaped (see sync/events.printable)."""
    from .sync.events import printable

    print(f"{PROG}: error: {printable(message)}", file=sys.stderr, flush=True)


def _log_to_stderr() -> None:
    """The engine's warnings on stderr (its logger's own), escaped like every other line printed."""
    from .terminal import PrintableFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter(f"{PROG}: %(levelname)s: %(message)s"))
    logging.getLogger("downstream_sync").addHandler(handler)


# --- arguments ------------------------------------------------------------------------------


def _session_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--filename", default="skaffold.yaml", metavar="FILE",
                   help="the skaffold.yaml to read (default: ./skaffold.yaml)")
    p.add_argument("-a", "--artifact", action="append", metavar="IMAGE",
                   help="only this artifact's image (repeatable; default: every artifact with a download stanza)")
    p.add_argument("-p", "--profile", action="append", default=[], metavar="P",
                   help="activate a Skaffold profile (repeatable, or comma-separated)")
    p.add_argument("-n", "--namespace", help="namespace of the pods (default: the context's, else 'default')")
    p.add_argument("--context", dest="kube_context", metavar="C", help="kubeconfig context (default: the current one)")
    p.add_argument("--kubeconfig", type=Path, metavar="FILE",
                   help="the kubeconfig to use (default: $KUBECONFIG, else ~/.kube/config)")
    p.add_argument("-l", "--selector", metavar="LABELS", help="label selector narrowing the pods, e.g. app=web")
    p.add_argument("-c", "--container", help="container name, when several containers of a pod run the image")
    p.add_argument("--connect-command", metavar="CMD",
                   help="a command whose stdin/stdout reach the helper, run for every connection instead of "
                        "kubectl exec; '{image}' is replaced by the artifact's image "
                        "(e.g. \"docker exec -i {image} /sync-helper/app-connect\")")
    p.add_argument("--helper", dest="helper_mode", choices=["auto", "connect", "attach"], default="auto",
                   help="auto (default): connect to the injected helper of a pod annotated as injected, else "
                        "attach one for the session (copied in through kubectl exec, removed on stop); "
                        "connect or attach forces either")
    p.add_argument("--policy", choices=["safe", "remote-wins"], default="safe",
                   help="safe (default): a local file you changed is kept and reported as a conflict; "
                        "remote-wins: the container's version overwrites it")
    p.add_argument("--pod-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                   help="how long to wait for a running pod (default: 60)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show each file skipped (up to date, excluded, in a reserved folder such as .git), "
                        "during the first reconcile too")


def _seconds(text: str) -> float:
    """A number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 or more seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Bring files that containers create back to your disk, under the rules "
                               "of the download stanza in skaffold.yaml.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("start", help="sync live until Ctrl+C", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Sync each artifact's files live until Ctrl+C. The first Ctrl+C (or SIGTERM) "
                                   "stops cleanly and prints a summary;\na second one quits at once.",
                       epilog="exit codes:\n"
                              "  1    a session failed, or the pod or kubectl to reach it cannot be found (a helper that\n"
                              "       does not answer is retried, and said so)\n"
                              "  2    skaffold.yaml has errors, or names no artifact to sync, or the command line is wrong\n"
                              "  130  stopped by Ctrl+C (SIGINT), as a shell counts it (128 + 2)\n"
                              "  143  stopped by SIGTERM (128 + 15)")
    _session_flags(p)
    p = sub.add_parser("pull", help="reconcile once and exit (0: in sync, 1: conflicts or errors)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Bring the local tree in line with the container once, then exit.",
                       epilog="exit codes:\n"
                              "  0    the local tree matches the container's (under the rules)\n"
                              "  1    conflicts or errors remain (listed above), or the helper cannot be reached\n"
                              "  2    skaffold.yaml has errors, or names no artifact to sync, or the command line is wrong\n"
                              "  130  interrupted (Ctrl+C)\n"
                              "  143  terminated (SIGTERM)")
    _session_flags(p)
    p = sub.add_parser("resolve", help="settle a conflict: keep your local file, or take the container's copy",
                       description="Settle the conflict on PATH, while a session runs or not: --keep-local "
                                   "removes the container's copy kept beside it, --take-remote puts that copy in "
                                   "place of the local file (and brings back a file you deleted).")
    p.add_argument("path", metavar="PATH", help="the local file in conflict (not its .downstream-conflict copy), "
                                                "or a folder: every conflict below it")
    choice = p.add_mutually_exclusive_group(required=True)
    choice.add_argument("--keep-local", dest="choice", action="store_const", const="keep-local")
    choice.add_argument("--take-remote", dest="choice", action="store_const", const="take-remote")
    p.add_argument("-f", "--filename", default="skaffold.yaml", metavar="FILE",
                   help="the project's skaffold.yaml (default: ./skaffold.yaml)")
    p.add_argument("-a", "--artifact", action="append", metavar="IMAGE", help="only this artifact's session")
    p.add_argument("-p", "--profile", action="append", default=[], metavar="P")
    p.set_defaults(connect_command=None, policy="safe")
    p = sub.add_parser("validate", help="check the download stanza of a skaffold.yaml",
                       description="Print problems as file:line:col: severity: code: message; exit 1 on errors.")
    p.add_argument("file", nargs="?", help="the skaffold.yaml to check (default: ./skaffold.yaml)")
    p.add_argument("-f", "--filename", metavar="FILE", help="the same, as the other commands take it")
    p.add_argument("-p", "--profile", action="append", default=[], metavar="P")
    p = sub.add_parser("status", help="list the sessions running for a project")
    p.add_argument("-f", "--filename", default="skaffold.yaml", metavar="FILE",
                   help="the project's skaffold.yaml (default: ./skaffold.yaml)")
    p = sub.add_parser("lsp", help="run the language server (stdio by default)")
    p.add_argument("--tcp", action="store_true", help="listen on a loopback TCP port instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="with --tcp: a loopback address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=2087)
    p.add_argument("--token-file", metavar="PATH",
                   help="with --tcp: a file only you can read holding the secret clients must show "
                        "(default: $DOWNSTREAM_SYNC_LSP_TOKEN)")
    p = sub.add_parser("inject", help="a filter: inject the helper into the manifests on stdin",
                       description="Read Kubernetes manifests on stdin and write them to stdout with the helper "
                                   "injected into every container that runs an artifact with a download stanza: "
                                   "skaffold render | downstream-sync inject -f skaffold.yaml | kubectl apply -f -. "
                                   "Also a Helm post-renderer: helm install --post-renderer downstream-sync "
                                   "--post-renderer-args inject --post-renderer-args --partial "
                                   "--post-renderer-args -f --post-renderer-args skaffold.yaml ...")
    p.add_argument("-f", "--filename", default="skaffold.yaml", metavar="FILE",
                   help="the skaffold.yaml with the download stanzas (default: ./skaffold.yaml)")
    p.add_argument("-p", "--profile", action="append", default=[], metavar="P",
                   help="activate a Skaffold profile (repeatable, or comma-separated)")
    p.add_argument("--image-config", action="append", default=[], metavar="IMAGE=FILE",
                   help="the config of IMAGE (JSON, as `docker inspect` prints it) when neither a Docker daemon "
                        "nor the registry can give it; IMAGE without a tag stands for every tag (repeatable)")
    p.add_argument("--helper-image", metavar="REF", help="the helper image for the init container")
    p.add_argument("--partial", action="store_true",
                   help="the manifests are a part of the project's (one Helm chart): an artifact that no container "
                        "runs is a warning, not an error")
    p = sub.add_parser("kustomize", help="kustomize transformers: a KRM function and a legacy exec plugin",
                       description="Inject the helper from kustomize, configured by an object of apiVersion "
                                   "downstream-sync.dev/v1, kind Injector, listed under transformers: in "
                                   "kustomization.yaml (see the README).")
    forms = p.add_subparsers(dest="form", metavar="FORM", required=True)
    forms.add_parser("function", help="the KRM function: a ResourceList on stdin, the ResourceList on stdout "
                                      "(kustomize build --enable-alpha-plugins --enable-exec)")
    q = forms.add_parser("plugin", help="the legacy exec plugin: the Injector config file, resources on stdin "
                                        "(kustomize build --enable-alpha-plugins)")
    q.add_argument("config", metavar="CONFIG", help="the Injector config file kustomize passes")
    q = forms.add_parser("install-plugin", help="write the legacy exec plugin into a plugin folder (kustomize's "
                                                "default is ~/.config/kustomize/plugin; KUSTOMIZE_PLUGIN_HOME "
                                                "names another)")
    q.add_argument("plugin_home", metavar="DIR", help="the plugin folder")
    p = sub.add_parser("skaffold", help="run skaffold on a config with download stanzas, injecting the helper",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run your skaffold with the same arguments on a copy of the config without the "
                                   "download stanzas,\ninject the helper into what it deploys (kubectl, kustomize, "
                                   "Helm), and for `dev`\nand `debug` sync each artifact's files once the deploy is "
                                   "up: downstream-sync skaffold dev",
                       epilog="Put skaffold's own flags after its command (or after --). Exit codes are "
                              "skaffold's;\n2 when the wrapper refuses the config or the command line.")
    p.add_argument("--skaffold", metavar="PATH", help="the skaffold to run (default: $DOWNSTREAM_SYNC_SKAFFOLD, "
                                                      "else skaffold on PATH)")
    p.add_argument("--image-config", action="append", default=[], metavar="IMAGE=FILE",
                   help="the config of IMAGE, for containers whose manifest has no command (see inject)")
    p.add_argument("--helper-image", metavar="REF", help="the helper image for the init container")
    p.add_argument("--policy", choices=["safe", "remote-wins"], default="safe",
                   help="for the sessions of dev: safe (default) or remote-wins, as for start")
    p.add_argument("--pod-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                   help="how long a session waits for a running pod (default: 60)")
    p.add_argument("-v", "--verbose", action="store_true", help="show each file skipped, as for start")
    p.add_argument("skaffold_args", nargs=argparse.REMAINDER, metavar="ARGS", help="skaffold's command and flags")
    p = sub.add_parser("demo", help="a live sync from an embedded local container (no cluster needed)")
    p.add_argument("--seconds", type=_seconds, default=20.0, help="stop after this long (default: 20; 0: until Ctrl+C)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show each file skipped (up to date, excluded, in a reserved folder such as .git), "
                        "during the first reconcile too")
    return parser


def _profiles(values: list[str]) -> tuple[str, ...]:
    return tuple(p.strip() for v in values for p in v.split(",") if p.strip())


# --- the project and what to sync ------------------------------------------------------------


def plan_for(args):
    """The checked session plans for `start`, `pull` and `demo` (planner.py); prints the project's
    warnings, and raises UserError (exit 2 when the project is at fault)."""
    from .config import format_diagnostic
    from .planner import Hooks, PlanError, SyncOptions, plan_sessions

    connect = None
    if args.connect_command:
        try:
            connect = tuple(shlex.split(args.connect_command))
        except ValueError as error:
            raise UserError(f"--connect-command: {error}") from None
    given = vars(args)  # `demo` sets only some of them
    options = SyncOptions(Path(args.filename), profiles=_profiles(args.profile), artifacts=tuple(args.artifact or ()),
                          namespace=given.get("namespace"), kube_context=given.get("kube_context"),
                          kubeconfig=given.get("kubeconfig"), selector=given.get("selector"),
                          container=given.get("container"), connect_command=connect,
                          policy=args.policy, pod_timeout=given.get("pod_timeout", 60.0),
                          helper_mode=given.get("helper_mode", "auto"))
    try:
        result = plan_sessions(options, Hooks(on_wait=_on_wait, on_choice=_on_choice))
    except PlanError as error:
        for d in error.diagnostics:
            print(format_diagnostic(d), file=sys.stderr)
        raise UserError(str(error), EXIT_CONFIG if error.config else EXIT_FAIL) from None
    for d in result.notes:
        print(format_diagnostic(d), file=sys.stderr)
    return result


def _on_wait(image: str, message: str) -> None:
    from .sync.events import printable

    print(printable(f"{time.strftime('%H:%M:%S')}  {image}: {message}"), flush=True)


def _on_choice(image: str, choice, previous) -> None:
    from .sync.events import printable

    others = f" (of {choice.candidates} candidates)" if choice.candidates > 1 else ""
    ready = "" if choice.ready else ", not ready yet"
    verb = "using" if previous is None else f"{previous.pod} is gone; following"
    print(printable(f"{time.strftime('%H:%M:%S')}  {image}: {verb} {choice.describe()}{others}{ready}"), flush=True)


async def preflight(plans: list, out) -> None:
    """Resolve each Kubernetes transport once, so that a missing pod, kubectl or helper is an
    error now rather than a retry loop; the transport says which pod it chose (see on_choice)."""
    from .cluster.kubernetes import KubernetesTransport

    for plan in plans:
        if isinstance(plan.transport, KubernetesTransport):
            print(f"Looking for a pod that runs {plan.image} ...", file=out, flush=True)
            await plan.transport.command()


# --- start -----------------------------------------------------------------------------------


def _quit_at_once(signum: int, _frame) -> None:
    """A second Ctrl+C or SIGTERM: exit now with 128 + its number. What a write left half done is
    a temporary or swap file the next start puts right (writer.clean_stale_temps)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os.write(2, f"\n{PROG}: interrupted\n".encode())
    os._exit(128 + signum)


def _stop_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, out) -> list[signal.Signals]:
    """The first Ctrl+C (or SIGTERM) stops cleanly; a second one interrupts at once. Returns the
    list the first signal is put in, for the exit code (128 + its number, as a shell reports it)."""
    caught: list[signal.Signals] = []

    def first(sig: signal.Signals) -> None:
        if caught:  # two came before the loop ran this: the second quits
            _quit_at_once(sig, None)
        caught.append(sig)
        for s in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(s)
            signal.signal(s, _quit_at_once)  # until the process ends, however far the stop got
        stop.set()
        # Only now: a terminal that takes no output blocks this line, and the second Ctrl+C must
        # quit it too.
        if sig == signal.SIGINT:
            print("\nStopping (Ctrl+C again to quit at once) ...", file=out, flush=True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, first, sig)
    return caught


class _Recorder:
    """The status record of this process's running sessions (records.py), kept current: at once on
    a state change (so `status` never shows an older state than the terminal), else at most twice
    a second. `add` a session once it started; `close` removes the record."""

    def __init__(self, project_root: Path, skaffold_file: Path, face: str, printer):
        from .records import Record

        self.record = Record(project_root, skaffold_file, face)
        self.printer = printer
        self.entries: list = []  # (session, plan)
        self.dirty = asyncio.Event()
        self.task = asyncio.create_task(self._keep())

    def add(self, session, plan) -> None:
        from .sync.events import StateChanged

        def on_event(event) -> None:
            if isinstance(event, StateChanged):
                self.update()
            else:
                self.dirty.set()

        self.entries.append((session, plan))
        session.subscribe(on_event)
        self.update()

    def update(self) -> None:
        rows = []
        for s, plan in self.entries:
            stats = s.stats
            tally = self.printer.tally(s.name)
            rows.append({"artifact": plan.image, "transport": plan.transport.describe(), "root": str(plan.root),
                         "state": s.state.name.lower(), "files_synced": stats.files_synced,
                         "bytes_synced": stats.bytes_synced, "conflicts": stats.conflicts, "errors": stats.errors,
                         "open_conflicts": {path: c.copy for path, c in self.printer.open_conflicts(s.name).items()},
                         "last_error": tally.last_error})
        self.record.update(rows)

    async def _keep(self) -> None:
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            self.update()
            await asyncio.sleep(0.5)

    def close(self) -> None:
        self.task.cancel()
        self.record.remove()


async def run_sessions(project, plans: list, args, *, seconds: float = 0, out=None) -> int:
    """Run a session per plan until Ctrl+C (or `seconds`), printing events; a summary at the end."""
    from .terminal import TerminalPrinter, human_duration

    out = out or sys.stdout
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught = _stop_signals(loop, stop, out)
    printer = TerminalPrinter(out, show_names=len(plans) > 1, verbose=args.verbose,
                              roots={p.name: Path(p.root) for p in plans})
    face = f"{PROG} {args.command}"
    sessions = [p.session(owner=face, every_skip=args.verbose) for p in plans]
    for s in sessions:
        s.subscribe(printer)

    started = time.monotonic()
    images = ", ".join(p.image for p in plans)
    until = f"for {human_duration(seconds)} (or until Ctrl+C)" if seconds > 0 else "until Ctrl+C"
    print(f"Syncing {images} {until}.", file=out, flush=True)
    recorder = _Recorder(Path(project.root), Path(args.filename).resolve(), face, printer)
    for s, plan in zip(sessions, plans):
        recorder.add(s, plan)
    try:
        try:
            for s in sessions:
                await s.start()
        except BaseException:
            for s in sessions:  # those already started must not outlive a failed start
                await s.stop()
            raise
        waiters = [asyncio.create_task(s.wait()) for s in sessions]
        stopper = asyncio.create_task(stop.wait())
        timers = [asyncio.create_task(asyncio.sleep(seconds))] if seconds > 0 else []
        pending = set(waiters)
        while pending and not stop.is_set():
            done, _ = await asyncio.wait(pending | {stopper, *timers}, return_when=asyncio.FIRST_COMPLETED)
            pending -= done
            if any(t in done for t in timers):
                break
        for t in [stopper, *timers]:
            t.cancel()
        for s in sessions:
            await s.stop()
        await asyncio.gather(*waiters, return_exceptions=True)
    finally:
        recorder.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    elapsed = time.monotonic() - started
    failed = [s for s in sessions if s.state.name == "FAILED"]
    print("", file=out)
    for s in sessions:
        name = f"{s.name}: " if len(sessions) > 1 else ""
        print(f"Stopped. {name}{printer.summary_line(s.name, elapsed)}", file=out, flush=True)
        if note := printer.conflicts_note(s.name):
            print(note, file=out, flush=True)
    for s in failed:
        detail = printer.tally(s.name).last_detail
        _err(f"session {s.name} failed" + (f": {detail}" if detail else ""))
    if failed:
        return EXIT_FAIL
    return 128 + caught[0] if caught else EXIT_OK


async def cmd_start(args) -> int:
    planned = plan_for(args)
    await preflight(planned.sessions, sys.stdout)
    return await run_sessions(planned.project, planned.sessions, args)


# --- pull ------------------------------------------------------------------------------------


async def cmd_pull(args) -> int:
    plans = plan_for(args).sessions
    await preflight(plans, sys.stdout)

    from .terminal import TerminalPrinter

    printer = TerminalPrinter(sys.stdout, show_names=len(plans) > 1, verbose=args.verbose,
                              roots={p.name: Path(p.root) for p in plans})
    code = EXIT_OK
    started = time.monotonic()
    for plan in plans:
        session = plan.session(owner=f"{PROG} pull", every_skip=args.verbose)
        session.subscribe(printer)
        result = await session.pull()
        ok = result.in_sync and not result.conflicts and not result.errors
        verdict = "in sync" if ok else "NOT in sync"
        name = f"{plan.image}: " if len(plans) > 1 else ""
        print(f"{name}{verdict}: {printer.summary_line(plan.image, time.monotonic() - started)}", flush=True)
        if not ok and (note := printer.conflicts_note(plan.image)):
            print(note, flush=True)
        if not ok:
            code = EXIT_FAIL
    return code


# --- resolve ---------------------------------------------------------------------------------


async def cmd_resolve(args) -> int:
    """Session.resolve_conflict of the session that has the conflict; the same operation as the
    language server's resolveConflict, and safe while that session runs in another process."""
    from .sync.events import ConflictResolved, printable

    plans = plan_for(args).sessions
    given = Path(args.path).absolute()
    local = given.parent.resolve() / given.name  # the project root is resolved too
    if local.name.endswith(".downstream-conflict"):
        raise UserError(f"{args.path} is a conflict copy: name the file in conflict beside it")
    refusals = []
    for plan in plans:
        session = plan.session(owner=f"{PROG} resolve")
        done: list[ConflictResolved] = []
        session.subscribe(lambda e: done.append(e) if isinstance(e, ConflictResolved) else None)
        refused = None
        try:
            await session.resolve_conflict(str(local), args.choice)
        except ValueError as error:
            refused = str(error)
        for event in done:
            removed = f"; removed {event.removed_copy}" if event.removed_copy else ""
            print(printable(f"resolved   {event.path}  ({event.how}{removed})"), flush=True)
        if refused is None:
            return EXIT_OK
        if done:  # a folder's conflicts, some of them left
            raise UserError(refused)
        refusals.append(refused)
    edited = [r for r in refusals if "was edited" in r]
    raise UserError((edited or refusals or [f"no conflict to resolve for {args.path}"])[0])


# --- validate, status, lsp -------------------------------------------------------------------


def cmd_validate(args) -> int:
    from .config import Severity, format_diagnostic, load_project

    if args.file and args.filename and args.file != args.filename:
        raise UserError(f"two files given ({args.file} and -f {args.filename}): name one", EXIT_CONFIG)
    args.file = args.file or args.filename or "skaffold.yaml"
    if not Path(args.file).exists():
        raise UserError(f"{args.file}: no such file", EXIT_CONFIG)
    project = load_project(Path(args.file), profiles=_profiles(args.profile))
    errors = 0
    for d in project.diagnostics:
        print(format_diagnostic(d))
        errors += d.severity == Severity.ERROR
    if not errors:
        print(f"{args.file}: ok" + (f" ({len(project.diagnostics)} note{'s' if len(project.diagnostics) != 1 else ''} above)"
                                    if project.diagnostics else ""))
    return EXIT_FAIL if errors else EXIT_OK


def cmd_status(args) -> int:
    from .records import live_records
    from .sync.events import printable

    given = Path(args.filename).resolve()
    root = given if given.is_dir() else given.parent
    records = live_records(root)
    if not records:
        print(f"No sessions are running for {printable(str(root))}.")
        return EXIT_OK
    rows = [("PID", "BY", "ARTIFACT", "STATE", "FILES", "CONFLICTS", "ERRORS", "TRANSPORT")]
    notes = []
    for r in records:
        # What runs them, one word: start, skaffold-dev, ... (a record of an older version: start)
        by = printable(str(r.get("face") or f"{PROG} start").removeprefix(f"{PROG} ")).replace(" ", "-")
        for s in r.get("sessions", []):
            artifact = printable(str(s.get("artifact", "?")))
            folder = Path(s.get("root") or root)
            conflicts = {path: copy for path, copy in (s.get("open_conflicts") or {}).items()
                         if not copy or os.path.lexists(folder / copy)}  # a copy removed since settles it
            rows.append((str(r["pid"]), by, artifact, str(s.get("state", "?")), str(s.get("files_synced", 0)),
                         str(len(conflicts)), str(s.get("errors", 0)), printable(str(s.get("transport", "?")))))
            for path, copy in sorted(conflicts.items()):
                where = f" (the container's copy: {copy})" if copy else ""
                notes.append(printable(f"{artifact}: conflict {path}{where}"))
            if s.get("last_error"):
                notes.append(printable(f"{artifact}: last error: {s['last_error']}"))
    widths = [max(len(row[i]) for row in rows) for i in range(7)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:7], widths)) + "  " + row[7])
    if notes:
        print()
        for note in notes:
            print(note)
    return EXIT_OK


def cmd_lsp(args) -> int:
    from .lsp.server import serve  # imported only here: pygls is slow to import
    from .lsp.tcp import SetupError

    try:
        return serve(tcp=(args.host, args.port) if args.tcp else None, token_file=args.token_file)
    except SetupError as error:
        raise UserError(str(error)) from None


# --- inject ----------------------------------------------------------------------------------


def cmd_inject(args) -> int:
    from .inject import (DEFAULT_HELPER_IMAGE, ConfigSource, ImageConfigError, InjectError, InjectRequest,
                         inject_manifests, parse_image_config_flag, rules_from_project)

    try:
        configs = ConfigSource(dict(parse_image_config_flag(value) for value in args.image_config))
    except ValueError as error:
        raise UserError(f"--image-config {error}", EXIT_CONFIG) from None
    try:
        configs.check_files()
    except ImageConfigError as error:
        raise UserError(str(error), EXIT_CONFIG) from None
    text = _read_stdin("the manifests are")
    try:
        request = InjectRequest(rules_from_project(args.filename, _profiles(args.profile)), configs,
                                args.helper_image or DEFAULT_HELPER_IMAGE, missing="warn" if args.partial else "error")
        result = inject_manifests(text, request)
    except InjectError as error:
        raise UserError(str(error)) from None
    for warning in result.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    sys.stdout.buffer.write(result.text.encode("utf-8"))  # a reader that goes away is a failure here
    sys.stdout.buffer.flush()
    return EXIT_OK


def _read_stdin(what: str) -> str:
    try:
        return sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"<stdin>: {what} not UTF-8 (byte {error.start + 1})") from None


def cmd_kustomize(args) -> int:
    from .inject import kustomize
    from .inject.transform import InjectError

    if args.form == "install-plugin":
        from .sync.events import printable

        # Python -c, the current folder (kustomize runs the plugin in the kustomization's) taken off
        # sys.path first: nothing there named like this package is imported instead.
        run = ('import sys; sys.path[:1] == [""] and sys.path.pop(0); '
               'from downstream_sync.cli import main; sys.exit(main(sys.argv[1:]))')
        path = kustomize.write_plugin(Path(args.plugin_home), [sys.executable, "-c", run])
        print(f"wrote {printable(str(path))}\nrun kustomize with KUSTOMIZE_PLUGIN_HOME="
              f"{printable(str(Path(args.plugin_home).resolve()))} "
              f"--enable-alpha-plugins, listing a file of apiVersion {kustomize.API_VERSION}, kind {kustomize.KIND} "
              f"under transformers:")
        return EXIT_OK
    if args.form == "function":  # errors go in the ResourceList's results, and on stderr for kustomize's user
        text, failure = kustomize.run_function(_read_stdin("the ResourceList is"), Path.cwd())
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        if failure is not None:
            _err(failure)
        return EXIT_OK if failure is None else EXIT_FAIL
    try:
        result = kustomize.run_plugin(Path(args.config), _read_stdin("the resources are"), Path.cwd())
    except InjectError as error:
        raise UserError(str(error)) from None
    for warning in result.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    sys.stdout.buffer.write(result.text.encode("utf-8"))
    sys.stdout.buffer.flush()
    return EXIT_OK
# --- skaffold ------------------------------------------------------------------------------


async def cmd_skaffold(args) -> int:
    """Skaffold through the wrapper (skaffold/run.py); for dev and debug, sessions through the planner
    once the deploy is up, stopped when Skaffold ends."""
    from .inject import InjectError
    from .planner import Hooks, PlanError, SyncOptions, plan_sessions
    from .skaffold.args import SESSION_COMMANDS
    from .skaffold.events import DeployUp, Ended, IterationFailed
    from .skaffold.run import WrapperError, find_skaffold, prepare, run
    from .terminal import TerminalPrinter

    words = args.skaffold_args[1:] if args.skaffold_args[:1] == ["--"] else args.skaffold_args
    try:
        prepared = prepare(find_skaffold(args.skaffold), words, image_configs=tuple(args.image_config),
                           helper_image=args.helper_image)
    except WrapperError as error:
        raise UserError(str(error), EXIT_CONFIG) from None
    parsed = prepared.parsed
    sessions: list = []
    printer = None
    recorder: _Recorder | None = None
    face = f"{PROG} skaffold {parsed.command}"
    started = time.monotonic()

    async def start_sessions(iteration: int) -> None:
        nonlocal printer, recorder
        options = SyncOptions(prepared.config, profiles=parsed.profiles, namespace=parsed.namespace,
                              kube_context=parsed.kube_context, policy=args.policy, pod_timeout=args.pod_timeout)
        try:
            plan = plan_sessions(options, Hooks(on_wait=_on_wait, on_choice=_on_choice))
        except PlanError as error:
            _err(f"no downstream sync: {error.with_details()}")
            return
        printer = TerminalPrinter(sys.stdout, show_names=len(plan.sessions) > 1, verbose=args.verbose,
                                  roots={p.name: Path(p.root) for p in plan.sessions})
        images = ", ".join(p.image for p in plan.sessions)
        print(f"{PROG}: deploy {iteration} is up: syncing {images} until skaffold ends.", flush=True)
        recorder = _Recorder(Path(plan.project.root), prepared.config, face, printer)  # `status` shows them
        for p in plan.sessions:
            session = p.session(owner=face, every_skip=args.verbose)
            session.subscribe(printer)
            try:
                await session.start()
            except Exception as error:  # another session holds the folder, ...: Skaffold runs on
                _err(f"session {p.image} did not start: {error}")
                continue
            sessions.append(session)
            recorder.add(session, p)

    tasks: list[asyncio.Task] = []

    def on_moment(moment) -> None:
        if isinstance(moment, DeployUp) and not tasks:
            tasks.append(asyncio.create_task(start_sessions(moment.iteration)))
        elif isinstance(moment, DeployUp):
            print(f"{PROG}: deploy {moment.iteration} is up: the sessions follow the new pods.", flush=True)
        elif isinstance(moment, IterationFailed):
            keep = "the sessions keep to the running pods" if tasks else "no deploy is up yet, nothing is synced"
            why = f" ({moment.message})" if moment.message else ""
            print(f"{PROG}: skaffold iteration {moment.iteration} failed{why}; {keep}.", flush=True)
        elif isinstance(moment, Ended) and moment.message:
            print(f"{PROG}: skaffold ended ({moment.status}): {moment.message}", file=sys.stderr, flush=True)

    want_sessions = parsed.command in SESSION_COMMANDS
    sys.stdout.flush()
    try:
        code = await run(prepared, on_moment if want_sessions else None, sys.stdout.buffer)
    except InjectError as error:
        raise UserError(str(error)) from None
    finally:
        prepared.cleanup()
        for task in tasks:
            await asyncio.gather(task, return_exceptions=True)
        for session in sessions:
            await session.stop()
        if recorder is not None:
            recorder.close()
    if sessions and printer is not None:
        print("", flush=True)
        for s in sessions:
            name = f"{s.name}: " if len(sessions) > 1 else ""
            print(f"Stopped. {name}{printer.summary_line(s.name, time.monotonic() - started)}", flush=True)
    elif want_sessions and not tasks and code == 0:
        print(f"{PROG}: skaffold ended before a deploy was up; no files were synced.", flush=True)
    return code


# --- demo ------------------------------------------------------------------------------------


async def cmd_demo(args) -> int:
    from .demo import create_project, helper_bin

    # The demo's helper commands come with this package: make them reachable by name.
    os.environ["PATH"] = helper_bin() + os.pathsep + os.environ.get("PATH", "")
    demo = create_project()
    out = sys.stdout
    print(f"Demo project: {demo.root}", file=out)
    print("  container/   the \"container\": a generator writes, rewrites, renames and deletes files here,", file=out)
    print("               served by a real app-server", file=out)
    print("  synced/      where Downstream Sync brings them, under the rules of skaffold.yaml", file=out)
    print("", file=out, flush=True)
    args.filename = str(demo.skaffold)
    args.artifact, args.profile, args.policy = None, [], "safe"
    args.connect_command = demo.connect_command
    try:
        planned = plan_for(args)
        rules = planned.sessions[0].rules
        try:
            demo.start_container(list(rules.targets), list(rules.excludes))  # on this thread: see _die_with_parent
        except RuntimeError as error:
            raise UserError(str(error)) from None
        code = await run_sessions(planned.project, planned.sessions, args, seconds=args.seconds, out=out)
    finally:
        await asyncio.to_thread(demo.stop_container)
        demo.cleanup_runtime()
    synced = demo.root / "synced"
    files = sorted(p for p in synced.rglob("*") if p.is_file() and ".downstream-sync" not in p.parts) if synced.exists() else []
    print(f"\nThe synced files are in {synced} ({len(files)} file{'s' if len(files) != 1 else ''}):")
    for p in files[:12]:
        print(f"  {p.relative_to(demo.root)}")
    if len(files) > 12:
        print(f"  ... and {len(files) - 12} more")
    print(f"Compare with the container's files in {demo.container}; the folder is kept.")
    return code


# --- main ------------------------------------------------------------------------------------


def _describe_os_error(error: OSError) -> str:
    if error.filename:
        return f"{error.strerror or error}: {error.filename}"
    return str(error)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"start": cmd_start, "pull": cmd_pull, "resolve": cmd_resolve, "demo": cmd_demo,
                "skaffold": cmd_skaffold}
    if args.command != "lsp":  # there stdout is the protocol's, and the server sets up its own log
        from .terminal import QuietPipe

        sys.stdout = QuietPipe(sys.stdout)
        _log_to_stderr()
    try:
        if args.command in handlers:
            return asyncio.run(handlers[args.command](args))
        return {"validate": cmd_validate, "status": cmd_status, "lsp": cmd_lsp,
                "inject": cmd_inject, "kustomize": cmd_kustomize}[args.command](args)
    except UserError as error:
        _err(str(error))
        return error.code
    except BrokenPipeError:
        from .terminal import silence

        silence(sys.stdout)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        _err("interrupted")
        return EXIT_INTERRUPTED
    except OSError as error:
        _err(_describe_os_error(error))
        return EXIT_FAIL
    except Exception as error:  # the engine's and transports' own errors: one line, no traceback
        if os.environ.get("DOWNSTREAM_SYNC_DEBUG"):
            raise
        from .cluster.transport import TransportError
        from .sync.ledger import LedgerError
        from .sync.lock import SessionBusy
        from .sync.rules import RuleError

        if isinstance(error, (TransportError, RuleError, LedgerError, SessionBusy)):
            _err(str(error))
            return EXIT_FAIL
        _err(f"{type(error).__name__}: {error} (set DOWNSTREAM_SYNC_DEBUG=1 for the traceback)")
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
