"""Each check of the download stanza, at its exact range (0-based lines and characters)."""

from __future__ import annotations

from downstream_sync.config import Severity, check_file

from .support import at, codes, only

HEAD = "apiVersion: skaffold/v4beta14\nkind: Config\n"


def problems(project):
    """Diagnostics other than the information every download stanza carries."""
    return [d for d in project.diagnostics if d.code != "download-not-in-skaffold"]


def test_valid_stanza_reads_into_the_model_with_only_the_information(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: node-example
    context: node
    download:
      manual:
        - remoteSrc: "src"
          localDst: "node/src"
        - remoteSrc: /var/log/app
          localDst: logs
      excludes:
        - "node_modules/*"
        - abc/bb.js
""")
    assert problems(project) == []
    info = only(project.diagnostics, "download-not-in-skaffold")
    assert info.severity == Severity.INFORMATION
    assert at(info) == (7, 4, 7, 12)
    assert "stock Skaffold rejects unknown fields" in info.message
    (art,) = project.artifacts
    assert (art.image, art.context) == ("node-example", "node")
    assert art.source.file == ws.root / "skaffold.yaml" and art.source.range.start.line == 5
    dl = art.download
    assert [(m.remote_src, m.local_dst) for m in dl.mappings] == [("src", "node/src"), ("/var/log/app", "logs")]
    assert dl.mappings[1].local_path == ws.root / "logs"
    first = dl.mappings[0]
    assert (first.range.start.line, first.range.start.character) == (9, 10)
    assert (first.remote_src_range.start.character, first.remote_src_range.end.character) == (21, 26)
    assert (first.local_dst_range.start.line, first.local_dst_range.start.character) == (10, 20)
    assert dl.excludes == ["node_modules/*", "abc/bb.js"]
    assert dl.exclude_ranges[1].start.line == 15


def test_unknown_key_in_a_rule_suggests_the_right_one(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - remoteSource: src
        localDst: out
""")
    unknown = only(project.diagnostics, "download-unknown-key")
    assert at(unknown) == (8, 8, 8, 20)
    assert unknown.data == {"replacement": "remoteSrc"}
    assert "did you mean 'remoteSrc'" in unknown.message
    missing = only(project.diagnostics, "download-missing-key")
    assert missing.data == {"key": "remoteSrc"}
    assert at(missing)[:2] == (8, 8)
    assert project.artifacts[0].download.mappings == []


def test_unknown_keys_of_the_stanza(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - {remoteSrc: src, localDest: out}
      exclude: ["*.tmp"]
      onComplete: true
""")
    unknown = [d for d in project.diagnostics if d.code == "download-unknown-key"]
    assert [(at(d), d.data) for d in unknown] == [
        ((8, 25, 8, 34), {"replacement": "localDst"}),
        ((9, 6, 9, 13), {"replacement": "excludes"}),
        ((10, 6, 10, 16), None),
    ]
    assert "expected 'manual', 'excludes'" in unknown[2].message


def test_wrong_types(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: a
    download:
      manual: "src:out"
  - image: b
    download:
      manual:
      - remoteSrc: true
        localDst: [x]
      excludes: node_modules
  - image: c
    download: [src]
  - image: d
    download:
      manual:
      - src
""")
    wrong = [d for d in project.diagnostics if d.code == "download-wrong-type"]
    assert [(at(d)[:2], d.message) for d in wrong] == [
        ((7, 14), "'manual' must be a list of {remoteSrc, localDst} rules, not a string"),
        ((11, 19), "'remoteSrc' must be a path string, not a boolean"),
        ((12, 18), "'localDst' must be a path string, not a list"),
        ((13, 16), "'excludes' must be a list of glob strings, not a string"),
        ((15, 14), "'download' must be a mapping with 'manual' and 'excludes', not a list"),
        ((19, 8), "a download rule must be a mapping {remoteSrc, localDst}, not a string"),
    ]
    assert wrong[3].data == {"wrap_in_list": True}
    assert all(d.severity == Severity.ERROR for d in wrong)


def test_missing_and_empty_values(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - remoteSrc: ""
        localDst: out
      - remoteSrc: src
        localDst:
      - remoteSrc: logs
""")
    empty = [d for d in project.diagnostics if d.code == "download-empty-value"]
    assert [(at(d), d.data) for d in empty] == [
        ((8, 19, 8, 21), {"key": "remoteSrc"}),
        ((11, 8, 11, 16), {"key": "localDst"}),
    ]
    missing = only(project.diagnostics, "download-missing-key")
    assert at(missing)[:2] == (12, 8) and missing.data == {"key": "localDst"}


def test_no_rules_is_a_warning(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      excludes: ["*.log"]
""")
    warn = only(project.diagnostics, "download-no-rules")
    assert warn.severity == Severity.WARNING and at(warn)[:2] == (7, 6)


def test_local_dst_that_leaves_the_project(ws):
    inside = ws.root / "abs" / "ok"
    project = ws.load(HEAD + f"""
build:
  artifacts:
  - image: app
    download:
      manual:
      - {{remoteSrc: a, localDst: ../sibling}}
      - {{remoteSrc: b, localDst: "gen/../../up"}}
      - {{remoteSrc: c, localDst: /etc/app}}
      - {{remoteSrc: d, localDst: "{inside}"}}
      - {{remoteSrc: e, localDst: gen/../fine}}
""")
    outside = [d for d in project.diagnostics if d.code == "download-localdst-outside"]
    assert [at(d) for d in outside] == [(8, 33, 8, 43), (9, 33, 9, 47), (10, 33, 10, 41)]
    assert "'../sibling' leaves the project folder" in outside[0].message
    kept = project.artifacts[0].download.mappings
    assert [(m.remote_src, m.local_path) for m in kept] == [("d", inside), ("e", ws.root / "fine")]


def test_local_dst_inside_a_reserved_folder(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - {remoteSrc: a, localDst: .git/hooks}
      - {remoteSrc: b, localDst: sub/.GIT}
      - {remoteSrc: c, localDst: gen/../.Downstream-Sync}
      - {remoteSrc: d, localDst: .github}
""")
    reserved = [d for d in project.diagnostics if d.code == "download-localdst-reserved"]
    assert [at(d) for d in reserved] == [(8, 33, 8, 43), (9, 33, 9, 41), (10, 33, 10, 56)]
    assert "'.git/hooks' is inside .git, which a container never writes" in reserved[0].message
    assert [m.remote_src for m in project.artifacts[0].download.mappings] == ["d"]


def test_duplicate_and_overlapping_rules_in_one_artifact(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - {remoteSrc: src, localDst: out}
      - {remoteSrc: src, localDst: ./out}
      - {remoteSrc: gen, localDst: out}
      - {remoteSrc: lib, localDst: out/lib}
      - {remoteSrc: src/sub, localDst: elsewhere}
""")
    dups = [d for d in project.diagnostics if d.code == "download-duplicate-mapping"]
    assert [(at(d), d.severity) for d in dups] == [((9, 35, 9, 40), Severity.ERROR), ((10, 35, 10, 38), Severity.ERROR)]
    assert "repeats the rule on line 9" in dups[0].message
    assert "writes into the same folder as the rule on line 9" in dups[1].message
    overlaps = [d for d in project.diagnostics if d.code == "download-overlapping-mapping"]
    assert [(at(d)[:2], d.severity) for d in overlaps] == [((11, 35), Severity.WARNING), ((12, 20), Severity.WARNING)]
    assert "remoteSrc 'src/sub' overlaps 'src'" in overlaps[1].message
    # the exact repeat is dropped from the model; the others stay for the engine to refuse on errors
    assert [m.remote_src for m in project.artifacts[0].download.mappings] == ["src", "gen", "lib", "src/sub"]


def test_two_artifacts_writing_into_one_folder(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: web
    download:
      manual: [{remoteSrc: gen, localDst: shared}]
  - image: api
    download:
      manual: [{remoteSrc: gen, localDst: shared/api}]
  - image: worker
    download:
      manual: [{remoteSrc: gen, localDst: worker}]
""")
    shared = only(project.diagnostics, "download-shared-local-dst")
    assert at(shared) == (10, 42, 10, 52)
    assert shared.data == {"other_image": "web", "other_line": 7}
    assert "also written by artifact 'web' (skaffold.yaml:8)" in shared.message


def test_exclude_that_does_not_parse_points_at_the_character(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual: [{remoteSrc: src, localDst: out}]
      excludes:
      - "abc/[bb.js"
      - 'a/**b/c'
      - x/}
      - "tab\\there/{a"
      - ""
      - "log/[z-a]"
""")
    bad = [d for d in project.diagnostics if d.code == "download-bad-exclude"]
    assert [at(d) for d in bad] == [
        (9, 13, 9, 14),   # '[' never closed, inside double quotes
        (10, 11, 10, 12),  # '**' inside a segment, inside single quotes
        (11, 10, 11, 11),  # stray '}', plain scalar
        (12, 8, 12, 22),  # escapes: the source differs from the value, so the whole string
        (13, 8, 13, 10),
        (14, 13, 14, 14),  # a reversed range: its class
    ]
    assert bad[0].data == {"position": 4}
    assert "character 5" in bad[0].message
    assert project.artifacts[0].download.excludes == []


def test_download_in_a_document_that_is_not_skaffold(ws):
    project = ws.load("""
apiVersion: apps/v1
kind: Config
build:
  artifacts:
  - image: app
    download:
      manual: [{remoteSrc: src, localDst: out}]
""")
    err = only(project.diagnostics, "download-not-skaffold-config")
    assert at(err) == (5, 4, 5, 12)
    assert "apiVersion is 'apps/v1' (line 1)" in err.message
    assert project.artifacts == []


def test_download_without_any_api_version(ws):
    project = ws.load("""
build:
  artifacts:
  - image: app
    download: {manual: [{remoteSrc: src, localDst: out}]}
""")
    err = only(project.diagnostics, "download-not-skaffold-config")
    assert at(err) == (3, 4, 3, 12) and "apiVersion is none" in err.message


def test_local_dst_overlapping_the_sync_sources_names_the_rule(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: node-example
    context: node
    sync:
      manual:
      - src: 'src/**/*.js'
        dest: .
      - src: 'static/*.css'
        dest: .
      infer:
      - 'views/*.html'
    download:
      manual:
      - remoteSrc: src
        localDst: node/src/gen
      - remoteSrc: static
        localDst: node/static/img
      - remoteSrc: views
        localDst: node
      - remoteSrc: other
        localDst: src
""")
    (art,) = project.artifacts
    assert art.sync == {"manual": [{"src": "src/**/*.js", "dest": "."}, {"src": "static/*.css", "dest": "."}],
                        "infer": ["views/*.html"]}
    assert art.sync_sources == ["node/src/**/*.js", "node/static/*.css", "node/views/*.html"]
    warns = [d for d in project.diagnostics if d.code == "download-overlaps-sync"]
    # node/src/gen is under src/**; node/static/img is not matched by static/*.css (one level);
    # the folder node holds every source; src (outside the context) holds none.
    assert [(at(d)[:2], d.data["rule"]) for d in warns] == [
        ((18, 18), "src: 'src/**/*.js'"),
        ((22, 18), "src: 'src/**/*.js'"),
        ((22, 18), "src: 'static/*.css'"),
        ((22, 18), "infer: 'views/*.html'"),
    ]
    assert all(d.severity == Severity.WARNING for d in warns)
    assert "sync rule `src: 'src/**/*.js'` on line 10: Skaffold will upload again" in warns[0].message


def test_patches_touching_download_are_checked_even_when_inactive(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
profiles:
- name: pull
  patches:
  - op: add
    path: /build/artifacts/0/download
    value:
      manual:
      - remoteSource: src
        localDst: out
  - op: add
    path: /build/artifacts/0/download/manual/-
    value: {remoteSrc: gen}
  - op: replace
    path: /build/artifacts/0/download/manual/0/localDst
    value: ../up
  - op: add
    path: /build/artifacts/0/download/excludes/0
    value: "a/[x"
  - op: add
    path: /build/artifacts/-
    value:
      image: extra
      download: {manual: {remoteSrc: a, localDst: b}}
""")
    assert project.artifacts[0].download is None  # the profile is not active
    found = [(d.code, at(d)[:2]) for d in problems(project)]
    assert found == [
        ("download-unknown-key", (13, 8)),
        ("download-missing-key", (13, 8)),
        ("download-missing-key", (17, 11)),
        ("download-localdst-outside", (20, 11)),
        ("download-bad-exclude", (23, 14)),
        ("download-wrong-type", (28, 25)),
    ]
    assert only(project.diagnostics, "download-wrong-type").data == {"wrap_in_list": True}


def test_yaml_syntax_error_has_its_position(ws):
    path = ws.write("skaffold.yaml", HEAD + "build:\n  artifacts: [\n  - image: x\n")
    diags = check_file(path)
    err = only(diags, "yaml-syntax")
    assert err.severity == Severity.ERROR
    assert at(err)[:2] == (4, 2)  # the '-' that a flow sequence cannot hold
    assert err.message.startswith("YAML syntax:")


def test_check_file_uses_the_unsaved_text(ws):
    path = ws.write("skaffold.yaml", HEAD)
    text = HEAD + "build:\n  artifacts:\n  - image: x\n    download: {manual: [{remoteSrc: a, localDst: ..}]}\n"
    diags = check_file(path, text=text)
    assert codes(diags) == ["download-not-in-skaffold", "download-localdst-outside"]
    assert check_file(path) == []


def test_misspelt_download_key_of_an_artifact(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    docker: {}
    downlaod:
      manual: [{remoteSrc: a, localDst: b}]
""")
    (d,) = project.diagnostics
    assert (d.code, at(d), d.data) == ("download-unknown-key", (7, 4, 7, 12), {"replacement": "download"})


def test_patch_path_naming_an_unknown_key(ws):
    project = ws.load(HEAD + """
build: {artifacts: [{image: app, download: {manual: [{remoteSrc: a, localDst: b}]}}]}
profiles:
- name: p
  patches:
  - op: add
    path: /build/artifacts/0/download/exclude
    value: ["*.tmp"]
  - op: replace
    path: "/build/artifacts/0/download/manual/0/localDest"
    value: c
  - op: remove
    path: /build/artifacts/0/download/whatever
""")
    unknown = [d for d in project.diagnostics if d.code == "download-unknown-key"]
    assert [(at(d), d.data) for d in unknown] == [
        ((8, 38, 8, 45), {"replacement": "excludes"}),
        ((11, 48, 11, 57), {"replacement": "localDst"}),
        ((14, 38, 14, 46), None),
    ]


def test_excludes_that_never_match(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual: [{remoteSrc: src, localDst: out}]
      excludes: [/src/tmp, ../x, ok/*.log]
""")
    never = [d for d in project.diagnostics if d.code == "download-exclude-never-matches"]
    assert [(at(d), d.severity) for d in never] == [((8, 17, 8, 25), Severity.WARNING), ((8, 27, 8, 31), Severity.WARNING)]
    assert project.artifacts[0].download.excludes == ["/src/tmp", "../x", "ok/*.log"]
    assert "only below an absolute remoteSrc" in never[0].message


def test_an_absolute_exclude_below_an_absolute_remote_src_matches(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual: [{remoteSrc: /var/log/app/, localDst: logs}]
      excludes: [/var/log/app/*.gz, /var/log/other/*]
""")
    never = [d for d in project.diagnostics if d.code == "download-exclude-never-matches"]
    assert [at(d)[:2] for d in never] == [(8, 36)]


def test_local_dst_through_a_symlink_out_of_the_project(ws, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (ws.root / "link").symlink_to(outside, target_is_directory=True)
    (ws.root / "real").mkdir()
    (ws.root / "inner").symlink_to(ws.root / "real", target_is_directory=True)
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - {remoteSrc: a, localDst: link/gen}
      - {remoteSrc: b, localDst: inner/gen}
""")
    d = only(project.diagnostics, "download-localdst-outside")
    assert at(d) == (8, 33, 8, 41) and "symbolic link 'link'" in d.message
    assert [m.remote_src for m in project.artifacts[0].download.mappings] == ["b"]


def test_profiles_given_as_one_comma_separated_string(ws):
    project = ws.load(HEAD + """
build: {artifacts: [{image: app}]}
profiles:
- {name: a, patches: [{op: add, path: /build/artifacts/0/context, value: ctx}]}
""", profiles="a, ")
    assert project.profiles == ["a"] and project.artifacts[0].context == "ctx"


def test_numbers_are_read_as_paths_as_skaffold_does(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual: [{remoteSrc: 2024, localDst: 2025}]
      excludes: [1.5]
""")
    assert problems(project) == []
    dl = project.artifacts[0].download
    assert [(m.remote_src, m.local_dst) for m in dl.mappings] == [("2024", "2025")] and dl.excludes == ["1.5"]


def test_a_key_written_twice(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - remoteSrc: a
        localDst: b
        localDst: c
""")
    d = only(project.diagnostics, "download-duplicate-key")
    assert at(d) == (10, 8, 10, 16) and d.data == {"line": 9}
    assert [m.local_dst for m in project.artifacts[0].download.mappings] == ["b"]


def test_download_in_the_wrong_place(ws):
    project = ws.load(HEAD + """
download: {manual: []}
build:
  download: {}
  artifacts: [{image: a}]
profiles:
- name: p
  download: {}
  build:
    download: {}
""")
    assert [(d.code, at(d)[:2]) for d in project.diagnostics] == [
        ("download-misplaced", (3, 0)), ("download-misplaced", (5, 2)),
        ("download-misplaced", (9, 2)), ("download-misplaced", (11, 4))]
    assert "not directly under build" in project.diagnostics[1].message


def test_remote_src_names_a_folder_not_a_pattern(ws):
    project = ws.load(HEAD + """
build:
  artifacts:
  - image: app
    download:
      manual:
      - {remoteSrc: "src/*.js", localDst: a}
      - {remoteSrc: "gen/**", localDst: b}
      - {remoteSrc: "out/../etc", localDst: c}
      - {remoteSrc: /, localDst: d}
      - {remoteSrc: ./, localDst: e}
      - {remoteSrc: ./fine/, localDst: f}
""")
    bad = [d for d in project.diagnostics if d.code == "download-bad-remote-src"]
    assert [(at(d), d.severity) for d in bad] == [
        ((8, 25, 8, 26), Severity.ERROR),       # the '*' of src/*.js
        ((9, 25, 9, 26), Severity.ERROR),       # the first '*' of gen/**
        ((10, 20, 10, 32), Severity.ERROR),
        ((11, 20, 11, 21), Severity.ERROR),
        ((12, 20, 12, 22), Severity.ERROR),
    ]
    assert "glob character '*'" in bad[0].message and "names a folder" in bad[0].message
    assert "'..'" in bad[2].message and "whole container" in bad[3].message and "working directory" in bad[4].message
    assert [m.remote_src for m in project.artifacts[0].download.mappings] == ["./fine/"]
