"""The original command by Kubernetes' rules (command replaces ENTRYPOINT, args replace CMD), the
image's WorkingDir as --workdir, the app's TMPDIR, and rules the helper's flags must carry whole."""

import json

import pytest
import yaml

from downstream_sync.inject import ConfigSource, InjectError, InjectRequest, inject_manifests, rules_from_project

SKAFFOLD = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: app
    download:
      manual:
      - {remoteSrc: src, localDst: src}
      - {remoteSrc: /var/log/app/, localDst: logs}
      excludes: [%s]
"""
IMAGE_CONFIG = {"Entrypoint": ["/entry.sh"], "Cmd": ["serve", "--port=$(PORT)"], "WorkingDir": "/srv/app",
                "Env": ["PATH=/bin", "TMPDIR=/image/tmp"]}


def run(tmp_path, container: dict, excludes: str = '"*.log"', config: dict | None = IMAGE_CONFIG):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD % excludes)
    files = {}
    if config is not None:
        (tmp_path / "app.json").write_text(json.dumps(config))
        files["app"] = tmp_path / "app.json"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "app:1", **container}]}}
    source = ConfigSource(files, use_docker=False, use_registry=False)
    result = inject_manifests(yaml.safe_dump(pod), InjectRequest(rules_from_project(tmp_path / "skaffold.yaml"), source))
    return yaml.safe_load(result.text)["spec"]["containers"][0]


RULES = ["--targets", "src,/var/log/app", "--excludes", "*.log"]


@pytest.mark.parametrize("given, original", [
    ({}, ["/entry.sh", "serve", "--port=$$(PORT)"]),                        # ENTRYPOINT + CMD (escaped: literal)
    ({"args": ["run", "$(MODE)"]}, ["/entry.sh", "run", "$(MODE)"]),          # ENTRYPOINT + args
    ({"command": ["/bin/app"]}, ["/bin/app"]),                                # command alone drops CMD
    ({"command": ["/bin/app"], "args": ["-v"]}, ["/bin/app", "-v"]),          # command + args
    ({"command": [], "args": []}, ["/entry.sh", "serve", "--port=$$(PORT)"]),  # empty lists are unset
    ({"command": ["python", "-m", "http.server", 8080]}, ["python", "-m", "http.server", "8080"]),
])
def test_command_and_args_combinations(tmp_path, given, original):
    c = run(tmp_path, given)
    assert c["command"] == ["/sync-helper/app-server"]
    assert c["args"] == ["--workdir", "/srv/app", *RULES, "--", *original]


def test_manifest_working_dir_wins_and_no_config_is_needed_when_the_manifest_says_all(tmp_path):
    c = run(tmp_path, {"command": ["/bin/app"], "workingDir": "/data"}, config=None)
    assert c["args"] == ["--workdir", "/data", *RULES, "--", "/bin/app"]


def test_relative_targets_without_a_working_dir_need_the_image_config(tmp_path):
    with pytest.raises(InjectError) as caught:
        run(tmp_path, {"command": ["/bin/app"]}, config=None)
    message = str(caught.value)
    assert "<stdin>: document 1: Pod p" in message and "image app:1" in message and "--image-config" in message


def test_an_image_without_working_dir_runs_in_the_root(tmp_path):
    c = run(tmp_path, {}, config={"Cmd": ["/bin/sh"]})
    assert c["args"] == ["--workdir", "/", *RULES, "--", "/bin/sh"]


def test_no_command_anywhere_is_an_error(tmp_path):
    with pytest.raises(InjectError, match=r"document 1: Pod p: container c: neither the manifest nor the image"):
        run(tmp_path, {}, config={"WorkingDir": "/x"})


@pytest.mark.parametrize("env, app_tmpdir", [
    (None, [{"name": "DOWNSTREAM_SYNC_APP_TMPDIR", "value": "/image/tmp"}]),
    ([{"name": "A", "value": "1"}, {"name": "TMPDIR", "value": "/mine"}],
     [{"name": "A", "value": "1"}, {"name": "DOWNSTREAM_SYNC_APP_TMPDIR", "value": "/mine"}]),
    ([{"name": "TMPDIR", "valueFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}}],
     [{"name": "DOWNSTREAM_SYNC_APP_TMPDIR", "valueFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}}]),
])
def test_the_helper_gets_tmpdir_on_its_volume_and_the_app_keeps_its_own(tmp_path, env, app_tmpdir):
    c = run(tmp_path, {"env": env} if env is not None else {})
    assert c["env"] == [*app_tmpdir, {"name": "TMPDIR", "value": "/sync-helper/tmp"}]


def test_a_glob_with_a_comma_goes_whole_in_its_own_flag(tmp_path):
    c = run(tmp_path, {"command": ["/bin/app"]}, excludes='"-odd", "**/*.{js,ts}", "*.log"')
    assert c["args"] == ["--workdir", "/srv/app", "--targets", "src,/var/log/app", "--excludes=-odd,*.log",
                         "--exclude=**/*.{js,ts}", "--", "/bin/app"]


def test_a_target_with_a_comma_cannot_be_expressed(tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD.replace("remoteSrc: src", "remoteSrc: 'a,b'") % "")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "app:1", "command": ["/x"], "workingDir": "/w"}]}}
    with pytest.raises(InjectError, match=r"document 1: Pod p: container c: remoteSrc 'a,b' cannot be passed"):
        inject_manifests(yaml.safe_dump(pod), InjectRequest(rules_from_project(tmp_path / "skaffold.yaml"),
                                                            ConfigSource(use_docker=False, use_registry=False)))


def test_injecting_with_changed_rules_rewrites_the_rules_and_keeps_the_original_command(tmp_path):
    first = run(tmp_path, {})
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD.replace("- {remoteSrc: src, localDst: src}\n", "") % '"*.tmp"')
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [first]}}
    rules = rules_from_project(tmp_path / "skaffold.yaml")
    out = yaml.safe_load(inject_manifests(yaml.safe_dump(pod), InjectRequest(
        rules, ConfigSource(use_docker=False, use_registry=False))).text)
    c = out["spec"]["containers"][0]
    assert c["args"] == ["--workdir", "/srv/app", "--targets", "/var/log/app", "--excludes", "*.tmp",
                         "--", "/entry.sh", "serve", "--port=$$(PORT)"]
    assert c["env"] == first["env"]
    assert out["metadata"]["annotations"]["downstream-sync.dev/fingerprint"] == f"c={rules[0].fingerprint}"


def test_an_unknown_app_tmpdir_is_a_warning_and_the_image_env_is_read_when_it_can_be(tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD % "")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "app:1", "command": ["/x"], "workingDir": "/w"}]}}
    rules = rules_from_project(tmp_path / "skaffold.yaml")
    result = inject_manifests(yaml.safe_dump(pod), InjectRequest(rules, ConfigSource(use_docker=False,
                                                                                     use_registry=False)))
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("<stdin>: document 1: Pod p: container c: the app's own TMPDIR is unknown")
    assert yaml.safe_load(result.text)["spec"]["containers"][0]["env"][0] == {
        "name": "DOWNSTREAM_SYNC_APP_TMPDIR", "value": ""}
    (tmp_path / "app.json").write_text(json.dumps({"Env": ["TMPDIR=/image/tmp"]}))
    source = ConfigSource({"app": tmp_path / "app.json"}, use_docker=False, use_registry=False)
    result = inject_manifests(yaml.safe_dump(pod), InjectRequest(rules, source))
    assert result.warnings == []
    c = yaml.safe_load(result.text)["spec"]["containers"][0]
    assert c["args"] == ["--workdir", "/w", *RULES[:2], "--", "/x"]
    assert c["env"][0] == {"name": "DOWNSTREAM_SYNC_APP_TMPDIR", "value": "/image/tmp"}
