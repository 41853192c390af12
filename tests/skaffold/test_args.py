"""Skaffold's command line as the wrapper reads and rewrites it."""

from __future__ import annotations

import pytest

from downstream_sync.skaffold.args import parse


@pytest.mark.parametrize("argv, filename", [
    (["dev"], None),
    (["dev", "-f", "a.yaml"], "a.yaml"),
    (["dev", "-fa.yaml"], "a.yaml"),
    (["dev", "--filename=a.yaml"], "a.yaml"),
    (["-v", "debug", "dev", "--filename", "a.yaml", "--port-forward"], "a.yaml"),
])
def test_the_command_and_the_config_are_found_in_every_spelling(argv, filename):
    args = parse(argv)
    assert args.command == "dev" and args.filename == filename
    rewritten = args.with_config("-")
    at = rewritten.index("--filename")
    assert rewritten[at + 1] == "-" and "--filename" not in rewritten[at + 1:]
    others = [w for w in argv if w not in ("-f", "--filename") and (filename is None or filename not in w)]
    assert rewritten[:at] + rewritten[at + 2:] == others


def test_profiles_namespace_context_and_ports_are_read():
    args = parse(["run", "-p", "a,b", "--profile=c", "-pd", "-n", "ns", "--kube-context", "kc",
                  "--rpc-http-port", "5000"])
    assert args.profiles == ("a", "b", "c", "d")
    assert (args.namespace, args.kube_context, args.rpc_http_port) == ("ns", "kc", 5000)


def test_render_output_and_help_are_noticed():
    assert parse(["render", "-o", "out.yaml"]).has_output
    assert not parse(["render"]).has_output
    assert parse(["dev", "--help"]).help
    assert parse(["--help"]).command is None


def test_a_flag_without_its_value_is_an_error():
    with pytest.raises(ValueError, match="--filename needs a value"):
        parse(["dev", "--filename"])
    with pytest.raises(ValueError, match="not a port number"):
        parse(["dev", "--rpc-http-port", "x"])
