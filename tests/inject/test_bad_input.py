"""Bad input through the real `downstream-sync inject`: a clear error naming file, document,
kind/name and container, exit 1, and nothing on stdout (the manifests are never half-written)."""

import yaml

from injecttools import SEED_TAG, free_port, run_cli

IMAGE = f"node-example:{SEED_TAG}"
GOOD = yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok"},
                       "spec": {"containers": [{"name": "app", "image": IMAGE}]}})


def pod(name: str, containers: list, **spec) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                           "spec": {"containers": containers, **spec}})


def refused(project, text: str, *extra: str, code: int = 1) -> str:
    done = run_cli(["inject", "-f", "skaffold.yaml", "--image-config", "node-example=node-example.json", *extra],
                   text, project)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("downstream-sync: error: ")
    return done.stderr


def test_not_yaml(seed_project):
    text = GOOD + "---\nkind: Pod\nmetadata: {name: [unclosed\nspec: {}\n"
    err = refused(seed_project, text)
    line = len(text.splitlines())  # PyYAML finds the fault at the end of the stream
    assert f"<stdin>: document 2, line {line}: not YAML: expected ',' or ']'" in err


def test_a_container_without_an_image(seed_project):
    err = refused(seed_project, GOOD + "---\n" + pod("noimage", [{"name": "c"}]))
    assert "<stdin>: document 2: Pod noimage: container c has no image" in err


def test_an_artifact_in_no_manifest_names_the_images_found(seed_project):
    err = refused(seed_project, pod("other", [{"name": "c", "image": "busybox:1"}, {"name": "d", "image": "redis"}]))
    assert "no container runs artifact node-example (images found: busybox:1, redis)" in err


def test_another_entrypoint_wrapper(seed_project):
    err = refused(seed_project, GOOD + "---\n" + pod("wrapped", [{"name": "c", "image": IMAGE,
                                                                  "command": ["/sync-helper/other-wrapper"]}]))
    assert "document 2: Pod wrapped: container c: already runs another entrypoint wrapper" in err
    err = refused(seed_project, pod("seedform", [{"name": "c", "image": IMAGE, "command": ["/sync-helper/app-server"],
                                                  "args": ["--command", "a,b", "--targets", "src"]}]))
    assert "document 1: Pod seedform: container c: already runs /sync-helper/app-server with args" in err


def test_something_else_mounted_where_the_helper_goes(seed_project):
    err = refused(seed_project, pod("m", [{"name": "c", "image": IMAGE,
                                           "volumeMounts": [{"name": "cache", "mountPath": "/sync-helper"}]}],
                                    volumes=[{"name": "cache", "emptyDir": {}}]))
    assert "document 1: Pod m: container c: already mounts volume 'cache' at /sync-helper" in err
    err = refused(seed_project, pod("v", [{"name": "c", "image": IMAGE}],
                                    volumes=[{"name": "downstream-sync-helper", "hostPath": {"path": "/x"}}]))
    assert "document 1: Pod v: the pod has a volume named downstream-sync-helper that is not an emptyDir" in err


def test_no_image_config_reachable_names_the_image_and_the_ways(seed_project):
    image = f"127.0.0.1:{free_port()}/node-example:1"  # nothing listens there, and no Docker daemon
    done = run_cli(["inject", "-f", "skaffold.yaml"], pod("p", [{"name": "c", "image": image}]), seed_project)
    assert done.returncode == 1 and done.stdout == ""
    err = done.stderr
    assert f"document 1: Pod p: container c: cannot read the config of image {image}" in err
    assert "Docker daemon: no daemon socket" in err and "does not answer" in err
    assert "--image-config IMAGE=FILE" in err and "command and args in the manifest" in err


def test_containers_that_are_not_a_list(seed_project):
    err = refused(seed_project, yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment",
                                                "metadata": {"name": "d"},
                                                "spec": {"template": {"spec": {"containers": {"a": 1}}}}}))
    assert "document 1: Deployment d: spec.template.spec.containers must be a list" in err


def test_bad_flags_and_files(seed_project):
    err = refused(seed_project, GOOD, "--image-config", "nothing-here", code=2)
    assert "IMAGE=FILE" in err
    done = run_cli(["inject", "-f", "missing.yaml"], GOOD, seed_project)
    assert done.returncode == 1 and done.stdout == "" and "missing.yaml: no such file" in done.stderr
    for flag, problem in (("node-example=absent.json", "absent.json: No such file"),
                          ("node-example=skaffold.yaml", "skaffold.yaml: not JSON")):
        done = run_cli(["inject", "-f", "skaffold.yaml", "--image-config", flag], GOOD, seed_project)
        assert done.returncode == 2 and done.stdout == "" and problem in done.stderr


def test_documents_that_are_not_objects_pass_through(seed_project):
    text = "just a string\n---\n- 1\n- 2\n---\n" + GOOD
    done = run_cli(["inject", "-f", "skaffold.yaml", "--image-config", "node-example=node-example.json"],
                   text, seed_project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("just a string\n---\n- 1\n- 2\n---\n")
