"""download-rebuild-loop: a localDst that the artifact's build reads, that no sync rule covers and the
builder's ignore rules do not leave out, is a rebuild loop waiting to happen."""

from __future__ import annotations

from downstream_sync.config.rebuild import dockerignore_excludes

from .support import at, codes, only

CONFIG = """
apiVersion: skaffold/v4beta14
kind: Config
build:
  artifacts:
  - image: web
    context: app
{extra}    download:
      manual:
      - remoteSrc: /srv/out
        localDst: {local}
"""


def load(ws, local="app/out", extra="", dockerfile="FROM scratch\nCOPY . /srv\n", ignore=None, beside=None):
    """`ignore`: app/.dockerignore; `beside`: app/Dockerfile.dockerignore."""
    if dockerfile is not None:
        ws.write("app/Dockerfile", dockerfile)
    for rel, text in (("app/.dockerignore", ignore), ("app/Dockerfile.dockerignore", beside)):
        if text is not None:
            ws.write(rel, text)
    return ws.load(CONFIG.format(local=local, extra=extra))


def loops(project):
    return [d for d in project.diagnostics if d.code == "download-rebuild-loop"]


def test_a_localdst_the_dockerfile_copies_is_a_loop_with_both_fixes_named(ws):
    project = load(ws)
    d = only(project.diagnostics, "download-rebuild-loop")
    assert at(d) == (9, 18, 9, 25)  # the localDst value
    assert "inside the build context 'app' of artifact 'web'" in d.message
    assert "add 'out/' to app/.dockerignore" in d.message and "sync rule with src 'out/**'" in d.message
    assert d.data == {"sync_src": "out/**", "ignore_file": str(ws.root / "app" / ".dockerignore"),
                      "ignore_entry": "out/"}


def test_a_sync_rule_that_covers_it_ends_the_loop(ws):
    extra = "    sync:\n      manual:\n      - src: 'out/**'\n        dest: /srv\n"
    project = load(ws, extra=extra)
    assert loops(project) == []
    assert "download-overlaps-sync" in codes(project.diagnostics)  # the echo is named instead


def test_dockerignore_at_the_context_root_leaves_it_out(ws):
    assert loops(load(ws, ignore="# generated\nout\n")) == []
    assert loops(load(ws, ignore="**/out/\n")) == []


def test_an_ignore_file_beside_the_dockerfile_wins_over_the_root_one(ws):
    project = load(ws, extra="    docker:\n      dockerfile: Dockerfile\n",
                   ignore="out\n", beside="node_modules\n")
    d = only(project.diagnostics, "download-rebuild-loop")
    assert d.data["ignore_file"] == str(ws.root / "app" / "Dockerfile.dockerignore")


def test_an_exception_that_brings_files_back_keeps_the_warning(ws):
    assert len(loops(load(ws, ignore="out\n!out/keep.txt\n"))) == 1
    assert len(loops(load(ws, ignore="out\n!out\n"))) == 1


def test_a_localdst_outside_the_context_or_not_copied_is_no_loop(ws):
    assert loops(load(ws, local="synced")) == []
    assert loops(load(ws, dockerfile="FROM scratch\nCOPY src/ /srv/src\nADD --chown=1 package.json /srv/\n")) == []
    assert loops(load(ws, dockerfile="FROM base AS b\nFROM scratch\nCOPY --from=b /srv/out /srv/out\n")) == []


def test_a_copy_of_the_folder_itself_or_a_variable_source_counts(ws):
    assert len(loops(load(ws, dockerfile="FROM scratch\nCOPY [\"out\", \"/srv/out\"]\n"))) == 1
    assert len(loops(load(ws, dockerfile="FROM scratch\nARG D=.\nCOPY \\\n  ${D} /srv\n"))) == 1


def test_without_a_dockerfile_nothing_is_known_and_nothing_said(ws):
    assert loops(load(ws, dockerfile=None)) == []


def test_a_download_folder_that_holds_the_context_is_named_without_an_ignore_entry(ws):
    d = only(load(ws, local=".").diagnostics, "download-rebuild-loop")
    assert "around the build context 'app'" in d.message
    assert "ignore_entry" not in d.data and d.data["sync_src"] == "**"


def test_other_builders_read_their_dependencies(ws):
    custom = "    custom:\n      buildCommand: ./build.sh\n"
    d = only(load(ws, extra=custom, dockerfile=None).diagnostics, "download-rebuild-loop")  # paths: ["."]
    assert "give custom `dependencies: {paths: ['.'], ignore: ['out/**']}`" in d.message
    assert loops(load(ws, extra=custom + "      dependencies:\n        ignore: ['x']\n", dockerfile=None)) == []
    with_paths = custom + "      dependencies:\n        paths: ['out/**']\n"
    d = only(load(ws, extra=with_paths, dockerfile=None).diagnostics, "download-rebuild-loop")
    assert "custom.dependencies.ignore" in d.message
    ignored = with_paths + "        ignore: ['out/**']\n"
    assert loops(load(ws, extra=ignored, dockerfile=None)) == []
    buildpacks = "    buildpacks:\n      builder: b\n"
    assert len(loops(load(ws, extra=buildpacks, dockerfile=None))) == 1


def test_dockerignore_patterns_follow_docker():
    assert dockerignore_excludes(["out"], "out")
    assert dockerignore_excludes(["gen/*"], "gen/out")
    assert dockerignore_excludes(["gen"], "gen/out")          # a folder above counts
    assert not dockerignore_excludes(["*.log"], "out")
    assert dockerignore_excludes(["**/out"], "a/b/out")
    assert not dockerignore_excludes(["ou?x"], "out")
    assert dockerignore_excludes(["out", "!out", "out"], "out")  # the last match wins


def test_a_custom_builds_ignore_leaves_out_a_folder_as_skaffolds_walk_does(ws):
    custom = "    custom:\n      buildCommand: ./build.sh\n      dependencies:\n        paths: ['.']\n"
    for ignored in ("'out'", "'out/**'", "'**'", "'o*'"):
        assert loops(load(ws, extra=custom + f"        ignore: [{ignored}]\n", dockerfile=None)) == [], ignored
    for kept in ("'out/*.js'", "'**/x'", "'other'"):
        assert len(loops(load(ws, extra=custom + f"        ignore: [{kept}]\n", dockerfile=None))) == 1, kept
    bare = "    custom:\n      buildCommand: ./build.sh\n      dependencies:\n"
    assert loops(load(ws, extra=bare + "        paths: ['src']\n", dockerfile=None)) == []
    assert len(loops(load(ws, local="app/out/deep", extra=bare + "        paths: [out]\n", dockerfile=None))) == 1


def test_a_custom_build_that_reads_a_dockerfile_or_a_command_for_its_dependencies(ws):
    by_dockerfile = "    custom:\n      buildCommand: ./build.sh\n      dependencies:\n        dockerfile: {path: Dockerfile}\n"
    d = only(load(ws, extra=by_dockerfile).diagnostics, "download-rebuild-loop")
    assert "add 'out/' to app/.dockerignore" in d.message
    assert loops(load(ws, extra=by_dockerfile, ignore="out\n")) == []
    by_command = "    custom:\n      buildCommand: ./build.sh\n      dependencies:\n        command: ./deps.sh\n"
    assert loops(load(ws, extra=by_command, dockerfile=None)) == []  # known only when it runs: nothing said
