"""Skaffold's command line as the wrapper needs it: the command, the config file, the profiles, and
the argv with the config replaced and the event API turned on. Pure functions over lists of words.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SkaffoldArgs", "parse", "CONFIG_COMMANDS", "DEPLOY_COMMANDS", "SESSION_COMMANDS"]

# Commands that read skaffold.yaml, so they get the copy without download stanzas.
CONFIG_COMMANDS = frozenset({"dev", "debug", "run", "deploy", "build", "render", "apply", "delete", "diagnose",
                             "test", "verify", "exec", "filter"})
# Commands that deploy (through kubectl or Helm): the helper is injected into what they apply.
DEPLOY_COMMANDS = frozenset({"dev", "debug", "run", "deploy", "apply"})
# Commands that keep running after the deploy: downstream sessions follow them.
SESSION_COMMANDS = frozenset({"dev", "debug"})
# Every Skaffold v2 command, to tell the command from a flag's value.
_COMMANDS = CONFIG_COMMANDS | {"init", "fix", "config", "version", "completion", "survey", "schema", "inspect",
                               "lint", "credits", "options", "help", "cleanup"}


@dataclass
class SkaffoldArgs:
    argv: list[str]                      # the user's arguments, as given
    command: str | None                  # dev, render, ... (None: only flags, such as --help)
    filename: str | None                 # -f/--filename as given, None for the default
    file_index: tuple[int, int] | None   # (first word, number of words) of the -f flag in argv
    profiles: tuple[str, ...] = ()
    rpc_http_port: int | None = None
    namespace: str | None = None
    kube_context: str | None = None
    has_output: bool = False             # render -o/--output FILE
    help: bool = False

    def with_config(self, path: str) -> list[str]:
        """The argv with the config file replaced by `path` (added when the user gave none)."""
        if self.file_index is None:
            return [*self.argv, "--filename", path]
        start, count = self.file_index
        return [*self.argv[:start], "--filename", path, *self.argv[start + count:]]


def _value(argv: list[str], i: int, long: str, short: str | None) -> tuple[str | None, int] | None:
    """The value of flag `long`/`short` at argv[i], and how many words it takes; None when argv[i]
    is not that flag."""
    word = argv[i]
    for name in (long, short):
        if name is None:
            continue
        if word == name:
            return (argv[i + 1] if i + 1 < len(argv) else None), 2
        if word.startswith(name + "="):
            return word[len(name) + 1:], 1
        if name == short and word.startswith(short) and len(word) > len(short) and not word.startswith("--"):
            return word[len(short):], 1
    return None


def parse(argv: list[str]) -> SkaffoldArgs:
    """Reads the words the wrapper cares about; raises ValueError naming a flag without its value."""
    args = SkaffoldArgs(list(argv), None, None, None)
    profiles: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        if word in ("-h", "--help"):
            args.help = True
        for long, short in (("--filename", "-f"), ("--profile", "-p"), ("--rpc-http-port", None), ("--output", "-o"),
                            ("--namespace", "-n"), ("--kube-context", None), ("--verbosity", "-v")):
            found = _value(argv, i, long, short)
            if found is None:
                continue
            value, count = found
            if value is None:
                raise ValueError(f"{word} needs a value")
            if long == "--filename":
                args.filename, args.file_index = value, (i, count)
            elif long == "--profile":
                profiles += [p.strip() for p in value.split(",") if p.strip()]
            elif long == "--rpc-http-port":
                try:
                    args.rpc_http_port = int(value)
                except ValueError:
                    raise ValueError(f"--rpc-http-port {value!r} is not a port number") from None
            elif long == "--namespace":
                args.namespace = value
            elif long == "--kube-context":
                args.kube_context = value
            elif long == "--verbosity":
                pass  # read only so that its value (debug, info, ...) is not taken for a command
            else:
                args.has_output = True
            i += count
            break
        else:
            if args.command is None and word in _COMMANDS:
                args.command = word
            i += 1
    args.profiles = tuple(profiles)
    return args
