"""Every pod-bearing kind, List and ResourceList items, an unknown kind (left alone, with a
warning), image matching, and unrelated documents passing through byte for byte, in order."""

import json

import pytest
import yaml

from downstream_sync.inject import ConfigSource, InjectRequest, inject_manifests, rules_from_project
from downstream_sync.inject.manifests import POD_SPEC_PATHS
from injecttools import SEED_TAG, run_cli

IMAGE = f"node-example:{SEED_TAG}"


def container(name="app", image=IMAGE, **extra):
    return {"name": name, "image": image, **extra}


def pod_spec(*containers):
    return {"containers": list(containers) or [container()]}


def workload(kind: str, spec: dict, name="w") -> dict:
    path = POD_SPEC_PATHS[kind]
    obj = {"apiVersion": "batch/v1" if kind in ("Job", "CronJob") else ("v1" if kind in ("Pod", "ReplicationController", "PodTemplate") else "apps/v1"),
           "kind": kind, "metadata": {"name": name}}
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = spec
    return obj


def inject(project, text: str):
    rules = rules_from_project(project / "skaffold.yaml")
    source = ConfigSource({"node-example": project / "node-example.json"}, use_docker=False, use_registry=False)
    return inject_manifests(text, InjectRequest(rules, source, source="manifests.yaml"))


def pod_of(obj: dict) -> tuple[dict, dict]:
    """(the object holding the pod's metadata, the pod spec)."""
    path = POD_SPEC_PATHS[obj["kind"]]
    node = obj
    for key in path[:-1]:
        node = node[key]
    return (obj if len(path) == 1 else node), node[path[-1]]


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                                  "ReplicationController", "PodTemplate"])
def test_every_pod_bearing_kind(seed_project, kind):
    sidecar = container("proxy", "envoyproxy/envoy:v1.30")
    text = yaml.safe_dump(workload(kind, pod_spec(container(), sidecar)), sort_keys=False)
    result = inject(seed_project, text)
    template, spec = pod_of(yaml.safe_load(result.text))
    app, proxy = spec["containers"]
    assert app["command"] == ["/sync-helper/app-server"]
    assert app["args"][-5:] == ["--", "docker-entrypoint.sh", "/bin/sh", "-c", "npm run $NODE_ENV"]
    assert {"name": "downstream-sync-helper", "mountPath": "/sync-helper"} in app["volumeMounts"]
    assert proxy == sidecar
    assert [c["name"] for c in spec["initContainers"]] == ["downstream-sync-install"]
    assert template["metadata"]["annotations"]["downstream-sync.dev/injected"] == "app"
    assert result.injected == [f"manifests.yaml: document 1: {kind} w: container app"]
    assert result.warnings == []


def test_list_and_resource_list_items(seed_project):
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    items = [service, workload("Deployment", pod_spec()), workload("Pod", pod_spec(container("other", "busybox")))]
    lst = {"apiVersion": "v1", "kind": "List", "items": items}
    krm = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items,
           "functionConfig": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fn"}}}
    for doc in (lst, krm):
        result = inject(seed_project, yaml.safe_dump(doc, sort_keys=False))
        out = yaml.safe_load(result.text)
        assert out["kind"] == doc["kind"]
        assert out["items"][0] == service and out["items"][2] == items[2]
        assert pod_of(out["items"][1])[1]["containers"][0]["command"] == ["/sync-helper/app-server"]
        assert result.injected == ["manifests.yaml: document 1, item 2: Deployment w: container app"]
        if doc is krm:
            assert out["functionConfig"] == krm["functionConfig"]


def test_unrelated_documents_keep_their_text_and_order(seed_project):
    text = ("# leading comment, kept\n"
            "apiVersion: v1\nkind: ConfigMap   # a comment PyYAML would drop\nmetadata: {name: c}\n"
            "data: {k: 'v'}\n"
            "---\n# only a comment\n"
            "--- \n" + yaml.safe_dump(workload("Deployment", pod_spec()), sort_keys=False) +
            "---\n- a plain list\n- 'kept'\n"
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name:    spaced\n")
    result = inject(seed_project, text)
    pieces = result.text.split("\n---")
    original = text.split("\n---")
    assert len(pieces) == len(original)
    for i in (0, 1, 4):
        assert pieces[i] == original[i]
    assert pieces[3] == original[3]
    docs = [d for d in yaml.safe_load_all(result.text) if d is not None]
    assert [d["kind"] if isinstance(d, dict) else "list" for d in docs] == ["ConfigMap", "Deployment", "list", "Service"]


def test_unknown_kind_with_a_pod_template_is_left_untouched_with_a_warning(seed_project):
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
               "spec": {"template": {"spec": pod_spec()}}}
    text = yaml.safe_dump(rollout) + "---\n" + yaml.safe_dump(workload("Pod", pod_spec()))
    result = inject(seed_project, text)
    assert result.text.split("---\n")[0] == yaml.safe_dump(rollout)
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert "document 1: Rollout r: container app at spec.template" in warning and "left untouched" in warning


def test_cli_prints_the_unknown_kind_warning_on_stderr(seed_project):
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
               "spec": {"template": {"spec": pod_spec()}}}
    text = yaml.safe_dump(rollout)
    done = run_cli(["inject", "-f", "skaffold.yaml", "--image-config", "node-example=node-example.json"],
                   text, seed_project)
    assert done.returncode == 0, done.stderr
    assert done.stdout == text
    assert "warning: <stdin>: document 1: Rollout r" in done.stderr


@pytest.mark.parametrize("image", [
    "node-example", "node-example:v1", f"node-example@sha256:{'b' * 64}", f"node-example:v1@sha256:{'c' * 64}",
    "gcr.io/my-project/node-example:abc", "localhost:5000/node-example:abc", "127.0.0.1:5000/team/node-example"])
def test_images_match_whatever_tag_digest_or_default_repo(seed_project, image):
    result = inject(seed_project, yaml.safe_dump(workload("Pod", pod_spec(container(image=image)))))
    assert len(result.injected) == 1


@pytest.mark.parametrize("image", ["node-example-two:v1", "example:v1", "gcr.io/p/node-example-x", "busybox"])
def test_other_images_do_not_match(seed_project, image):
    text = yaml.safe_dump(workload("Pod", pod_spec(container(image=image), container("n", IMAGE))))
    result = inject(seed_project, text)
    assert result.injected == ["manifests.yaml: document 1: Pod w: container n"]


def test_skaffold_escaped_default_repo(tmp_path):
    (tmp_path / "skaffold.yaml").write_text(
        "apiVersion: skaffold/v4beta9\nkind: Config\nbuild:\n  artifacts:\n  - image: gcr.io/k8s-skaffold/web\n"
        "    download:\n      manual:\n      - {remoteSrc: /out, localDst: out}\n")
    spec = pod_spec(container(image="123.dkr.ecr.aws/gcr_io_k8s-skaffold_web:tag", command=["/web"]))
    rules = rules_from_project(tmp_path / "skaffold.yaml")
    result = inject_manifests(yaml.safe_dump(workload("Pod", spec)),
                              InjectRequest(rules, ConfigSource(use_docker=False, use_registry=False)))
    args = yaml.safe_load(result.text)["spec"]["containers"][0]["args"]
    assert args == ["--targets", "/out", "--", "/web"]  # absolute target, command given: no image config needed


def test_two_artifacts_in_two_containers_of_one_pod(tmp_path):
    (tmp_path / "skaffold.yaml").write_text(
        "apiVersion: skaffold/v4beta9\nkind: Config\nbuild:\n  artifacts:\n"
        "  - image: web\n    download:\n      manual:\n      - {remoteSrc: /gen, localDst: gen}\n"
        "  - image: worker\n    download:\n      manual:\n      - {remoteSrc: out, localDst: out}\n")
    (tmp_path / "worker.json").write_text(json.dumps({"Entrypoint": ["/work"], "WorkingDir": "/srv"}))
    spec = pod_spec(container("web", "web:1", command=["/web"]), container("worker", "worker:1"))
    rules = rules_from_project(tmp_path / "skaffold.yaml")
    source = ConfigSource({"worker": tmp_path / "worker.json"}, use_docker=False, use_registry=False)
    result = inject_manifests(yaml.safe_dump(workload("Deployment", spec)), InjectRequest(rules, source))
    template, out = pod_of(yaml.safe_load(result.text))
    web, worker = out["containers"]
    assert web["args"] == ["--targets", "/gen", "--", "/web"]
    assert worker["args"] == ["--workdir", "/srv", "--targets", "out", "--", "/work"]
    annotations = template["metadata"]["annotations"]
    assert annotations["downstream-sync.dev/injected"] == "web,worker"
    prints = dict(p.split("=") for p in annotations["downstream-sync.dev/fingerprint"].split(","))
    assert set(prints) == {"web", "worker"} and prints["web"] != prints["worker"]
    assert len(out["initContainers"]) == 1 and len(out["volumes"]) == 1
    again = inject_manifests(result.text, InjectRequest(rules, ConfigSource(use_docker=False, use_registry=False)))
    assert again.text == result.text


def test_a_rewritten_document_keeps_its_opening_comments(seed_project):
    body = yaml.safe_dump(workload("Pod", pod_spec()))
    text = "# Source: chart/templates/pod.yaml\n# second line\n" + body + "---\n# Source: b.yaml\n" + body
    result = inject(seed_project, text)
    first, second = result.text.split("---\n")
    assert first.startswith("# Source: chart/templates/pod.yaml\n# second line\napiVersion: v1\n")
    assert second.startswith("# Source: b.yaml\napiVersion: v1\n")
    assert len(result.injected) == 2
