"""The loader: documents, requires, profiles and their patches, anchors, and what the engine reads."""

from __future__ import annotations

from downstream_sync.config import check_file, load_project

from .support import at, codes, only

HEAD = "apiVersion: skaffold/v4beta14\nkind: Config\n"


def errors(project):
    return [(d.code, d.message) for d in project.diagnostics if d.severity == 1]


def rules(artifact):
    return [(m.remote_src, m.local_dst) for m in artifact.download.mappings] if artifact.download else None


def test_folder_path_finds_skaffold_yaml_or_yml(ws):
    ws.write("a/skaffold.yml", HEAD + "build:\n  artifacts:\n  - image: from-yml\n")
    project = load_project(ws.root / "a")
    assert project.path == ws.root / "a" / "skaffold.yml"
    assert project.root == ws.root / "a"
    assert [a.image for a in project.artifacts] == ["from-yml"]
    assert project.artifacts[0].context == "."


def test_several_configs_in_one_file_in_file_order(ws):
    project = ws.load(HEAD + """
metadata: {name: first}
build:
  artifacts:
  - image: one
    context: svc/one
---
# a comment-only part and an empty document are fine
---
apiVersion: skaffold/v4beta14
kind: Config
metadata: {name: second}
build:
  artifacts:
  - image: two
    download: {manual: [{remoteSrc: gen, localDst: two/gen}]}
---
apiVersion: v1
kind: ConfigMap
data: {build: x}
""")
    assert errors(project) == []
    assert [(a.image, a.context, a.config_name) for a in project.artifacts] == [
        ("one", "svc/one", "first"), ("two", ".", "second")]
    assert project.artifacts[1].source.range.start.line == 16
    assert rules(project.artifacts[1]) == [("gen", "two/gen")]


def test_requires_are_followed_and_checked_relative_to_their_own_folder(ws):
    ws.write("skaffold.yaml", HEAD + """
requires:
- path: ./app
- path: lib/skaffold.yaml
  configs: [wanted]
build:
  artifacts:
  - image: main
""")
    ws.write("app/skaffold.yaml", HEAD + """
build:
  artifacts:
  - image: app
    context: src
    download:
      manual:
      - {remoteSrc: gen, localDst: gen}
      - {remoteSrc: up, localDst: ../../escape}
""")
    ws.write("lib/skaffold.yaml", HEAD + """
metadata: {name: skipped}
build: {artifacts: [{image: not-me}]}
---
apiVersion: skaffold/v4beta14
kind: Config
metadata: {name: wanted}
build: {artifacts: [{image: lib}]}
""")
    project = load_project(ws.root)
    assert project.files == [ws.root / "skaffold.yaml", ws.root / "app" / "skaffold.yaml", ws.root / "lib" / "skaffold.yaml"]
    assert [a.image for a in project.artifacts] == ["app", "lib", "main"]  # required configs come first
    app = project.artifacts[0]
    assert app.root == ws.root / "app"
    assert [m.local_path for m in app.download.mappings] == [ws.root / "app" / "gen"]
    outside = only(project.diagnostics, "download-localdst-outside")
    assert outside.file == ws.root / "app" / "skaffold.yaml" and at(outside)[:2] == (10, 34)
    # an editor looking at the main file sees only its own diagnostics
    assert check_file(ws.root / "skaffold.yaml") == []


def test_missing_required_file_and_remote_requires(ws):
    project = ws.load(HEAD + """
requires:
- path: ./nowhere
- git: {repo: https://example.com/repo.git, path: x}
- configs: [only-a-name]
""")
    missing = only(project.diagnostics, "requires-missing")
    assert at(missing) == (4, 8, 4, 17)
    assert "'./nowhere' not found" in missing.message
    assert len(project.diagnostics) == 1


def test_requires_cycle_is_reported_where_it_closes_and_does_not_loop(ws):
    ws.write("skaffold.yaml", HEAD + "requires: [{path: b}]\nbuild: {artifacts: [{image: a}]}\n")
    ws.write("b/skaffold.yaml", HEAD + "requires:\n- path: ../c\nbuild: {artifacts: [{image: b}]}\n")
    ws.write("c/skaffold.yaml", HEAD + "requires:\n- path: ../skaffold.yaml\nbuild: {artifacts: [{image: c}]}\n")
    project = load_project(ws.root / "skaffold.yaml")
    cycle = only(project.diagnostics, "requires-cycle")
    assert cycle.file == ws.root / "c" / "skaffold.yaml"
    assert at(cycle) == (3, 8, 3, 24)
    assert [a.image for a in project.artifacts] == ["c", "b", "a"]


def test_a_config_required_twice_is_read_once(ws):
    ws.write("skaffold.yaml", HEAD + "requires: [{path: web}, {path: app}]\n")
    for name in ("web", "app"):
        ws.write(f"{name}/skaffold.yaml", HEAD + f"requires: [{{path: ../base}}]\nbuild: {{artifacts: [{{image: {name}}}]}}\n")
    ws.write("base/skaffold.yaml", HEAD + "build: {artifacts: [{image: base}]}\n")
    project = load_project(ws.root)
    assert [a.image for a in project.artifacts] == ["base", "web", "app"]
    assert project.diagnostics == []


PROFILED = HEAD + """
build:
  artifacts:
  - image: app
    context: app
    download:
      manual:
      - remoteSrc: src
        localDst: app/src
profiles:
- name: replaced
  build:
    artifacts:
    - image: other
      download: {manual: [{remoteSrc: gen, localDst: other/gen}]}
- name: patched
  patches:
  - op: replace
    path: /build/artifacts/0/download/manual/0/localDst
    value: app/generated
  - op: add
    path: /build/artifacts/0/download/excludes
    value: ["*.tmp"]
  - op: add
    path: /build/artifacts/-
    value: {image: extra, download: {manual: [{remoteSrc: x, localDst: extra}]}}
- name: removed
  patches:
  - op: remove
    path: /build/artifacts/0/download
- name: in-dev
  activation: [{command: dev}]
  patches:
  - {op: add, path: /build/artifacts/0/download/manual/-, value: {remoteSrc: logs, localDst: app/logs}}
- name: broken
  patches:
  - {op: replace, path: /build/artifacts/3/download, value: {}}
"""


def test_profiles_replace_artifacts_and_patch_downloads(ws):
    ws.write("skaffold.yaml", PROFILED)
    path = ws.root / "skaffold.yaml"
    base = load_project(path)
    assert errors(base) == []
    assert [(a.image, rules(a)) for a in base.artifacts] == [("app", [("src", "app/src")])]

    replaced = load_project(path, profiles=("replaced",))
    assert [(a.image, rules(a)) for a in replaced.artifacts] == [("other", [("gen", "other/gen")])]
    assert replaced.artifacts[0].source.range.start.line == 15  # where the profile writes it

    patched = load_project(path, profiles=("patched",))
    assert [(a.image, rules(a)) for a in patched.artifacts] == [
        ("app", [("src", "app/generated")]), ("extra", [("x", "extra")])]
    app = patched.artifacts[0]
    assert app.download.excludes == ["*.tmp"]
    assert app.download.mappings[0].local_dst_range.start.line == 21  # the patch value's position
    assert app.download.mappings[0].remote_src_range.start.line == 9

    removed = load_project(path, profiles=("removed",))
    assert removed.artifacts[0].download is None

    both = load_project(path, profiles=("patched", "removed"))
    assert [a.image for a in both.artifacts] == ["app", "extra"] and both.artifacts[0].download is None


def test_profile_activation_by_command_and_deactivation(ws):
    ws.write("skaffold.yaml", PROFILED)
    path = ws.root / "skaffold.yaml"
    dev = load_project(path, command="dev")
    assert rules(dev.artifacts[0]) == [("src", "app/src"), ("logs", "app/logs")]
    off = load_project(path, profiles=("-in-dev",), command="dev")
    assert rules(off.artifacts[0]) == [("src", "app/src")]
    assert load_project(path, command="run").artifacts[0].download.mappings[-1].remote_src == "src"


def test_failed_patch_and_unknown_profile(ws):
    ws.write("skaffold.yaml", PROFILED)
    project = load_project(ws.root / "skaffold.yaml", profiles=("broken", "nosuch"))
    failed = only(project.diagnostics, "profile-patch-failed")
    assert at(failed) == (38, 24, 38, 51)
    assert "index 3 is past the end" in failed.message
    missing = only(project.diagnostics, "profile-not-found")
    assert at(missing) == (0, 0, 0, 0) and "'nosuch'" in missing.message


def test_profile_env_activation(ws):
    project = ws.load(HEAD + """
build: {artifacts: [{image: app}]}
profiles:
- name: ci
  activation: [{env: "CI=true"}]
  patches: [{op: add, path: /build/artifacts/0/download, value: {manual: [{remoteSrc: a, localDst: b}]}}]
""", env={"CI": "true"})
    assert rules(project.artifacts[0]) == [("a", "b")]


def test_requires_active_profiles_pass_on(ws):
    ws.write("skaffold.yaml", HEAD + """
requires:
- path: dep
  activeProfiles:
  - name: pull
    activatedBy: [dev]
profiles:
- name: dev
""")
    ws.write("dep/skaffold.yaml", HEAD + """
build: {artifacts: [{image: dep}]}
profiles:
- name: pull
  patches: [{op: add, path: /build/artifacts/0/download, value: {manual: [{remoteSrc: a, localDst: out}]}}]
""")
    assert load_project(ws.root).artifacts[0].download is None
    dep = load_project(ws.root, profiles=("dev",)).artifacts[0]
    assert rules(dep) == [("a", "out")] and dep.download.mappings[0].local_path == ws.root / "dep" / "out"


def test_anchors_aliases_and_merge_keys(ws):
    project = ws.load(HEAD + """
x-common: &common
  context: shared
  download: &dl
    manual:
    - {remoteSrc: gen, localDst: shared/gen}
build:
  artifacts:
  - <<: *common
    image: web
  - image: api
    context: api
    download: *dl
""")
    web, api = project.artifacts
    assert (web.image, web.context, rules(web)) == ("web", "shared", [("gen", "shared/gen")])
    assert (api.image, api.context, rules(api)) == ("api", "api", [("gen", "shared/gen")])
    shared = only(project.diagnostics, "download-shared-local-dst")
    assert at(shared)[:2] == (7, 33)  # the anchored rule, which both artifacts use
    assert shared.data["other_image"] == "web"


def test_unsaved_text_replaces_the_file_and_files_lists_it(ws):
    path = ws.write("skaffold.yaml", HEAD + "build: {artifacts: [{image: on-disk}]}\n")
    project = load_project(path, text=HEAD + "build: {artifacts: [{image: in-editor}]}\n")
    assert [a.image for a in project.artifacts] == ["in-editor"]
    assert project.files == [path]
    assert codes(project.diagnostics) == []


def test_a_config_requiring_itself(ws):
    project = ws.load(HEAD + "requires: [{path: .}]\nbuild: {artifacts: [{image: a}]}\n")
    cycle = only(project.diagnostics, "requires-cycle")
    assert at(cycle) == (2, 18, 2, 19)
    assert [a.image for a in project.artifacts] == ["a"]


def test_an_empty_artifact_list_in_a_profile_keeps_the_config_s_own(ws):
    project = ws.load(HEAD + "build: {artifacts: [{image: a}]}\nprofiles: [{name: p, build: {artifacts: []}}]\n",
                      profiles=("p",))
    assert [a.image for a in project.artifacts] == ["a"]


def test_windows_line_endings(ws):
    path = ws.root / "skaffold.yaml"
    text = HEAD + "build:\n  artifacts:\n  - image: a\n    download: {manual: [{remoteSrc: s, localDst: ..}]}\n"
    path.write_bytes(text.replace("\n", "\r\n").encode())
    d = only(load_project(path).diagnostics, "download-localdst-outside")
    assert at(d) == (5, 49, 5, 51)


def test_copy_move_and_test_patches(ws):
    ws.write("skaffold.yaml", HEAD + """
build:
  artifacts:
  - image: a
    download: {manual: [{remoteSrc: gen, localDst: out}]}
  - image: b
profiles:
- name: copy
  patches:
  - {op: test, path: /build/artifacts/0/image, value: a}
  - {op: copy, from: /build/artifacts/0/download, path: /build/artifacts/1/download}
- name: move
  patches:
  - {op: move, from: /build/artifacts/0/download, path: /build/artifacts/1/download}
- name: bad
  patches:
  - {op: copy, path: /build/artifacts/1/download}
  - {op: frobnicate, path: /build}
""")
    path = ws.root / "skaffold.yaml"
    copied = load_project(path, profiles=("copy",))
    assert [rules(a) for a in copied.artifacts] == [[("gen", "out")], [("gen", "out")]]
    shared = only(copied.diagnostics, "download-shared-local-dst")
    assert shared.data["other_image"] == "a"
    moved = load_project(path, profiles=("move",))
    assert [rules(a) for a in moved.artifacts] == [None, [("gen", "out")]]
    bad = load_project(path, profiles=("bad",))
    assert [d.message for d in bad.diagnostics if d.code == "profile-patch-failed"] == [
        "profile 'bad': patch cannot apply: 'copy' needs a 'from' path",
        "profile 'bad': patch cannot apply: unknown patch op 'frobnicate'",
    ]


def test_an_unsaved_new_buffer_needs_no_file_on_disk(ws):
    path = ws.root / "skaffold.yaml"
    diags = check_file(path, text=HEAD + "build: {artifacts: [{image: a, download: {manual: [{remoteSrc: s}]}}]}\n")
    assert [d.code for d in diags] == ["download-not-in-skaffold", "download-missing-key"]
    assert not path.exists()


def test_required_folder_without_a_config(ws):
    (ws.root / "empty").mkdir()
    project = ws.load(HEAD + "requires: [{path: empty}]\n")
    d = only(project.diagnostics, "requires-missing")
    assert at(d) == (2, 18, 2, 23) and "empty/skaffold.yaml" in d.message
