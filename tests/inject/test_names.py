"""The names the engine reads from an injected pod: annotations, fingerprints, the helper image."""

from importlib.metadata import version

from downstream_sync.inject.names import (DEFAULT_HELPER_IMAGE, FINGERPRINT_ANNOTATION, HELPER_VERSION,
                                          INJECTED_ANNOTATION, format_fingerprints, injected_containers,
                                          parse_fingerprints, rules_fingerprint)


def test_annotation_names():
    assert INJECTED_ANNOTATION == "downstream-sync.dev/injected"
    assert FINGERPRINT_ANNOTATION == "downstream-sync.dev/fingerprint"


def test_the_default_helper_image_is_of_this_helper_version():
    assert HELPER_VERSION == version("downstream-sync-helper")
    assert DEFAULT_HELPER_IMAGE.endswith(f":{HELPER_VERSION}")


def test_fingerprints_ignore_order_and_change_with_the_rules():
    fp = rules_fingerprint(["src", "abc"], ["node_modules/*", "abc/bb.js"])
    assert fp == rules_fingerprint(["abc", "src"], ["abc/bb.js", "node_modules/*"])
    assert fp != rules_fingerprint(["src"], ["node_modules/*", "abc/bb.js"])
    assert fp != rules_fingerprint(["src", "abc"], ["node_modules/*"])
    assert len(fp) == 16


def test_annotation_values_round_trip():
    value = format_fingerprints({"worker": "b" * 16, "web": "a" * 16})
    assert value == f"web={'a' * 16},worker={'b' * 16}"
    assert parse_fingerprints(value) == {"web": "a" * 16, "worker": "b" * 16}
    assert parse_fingerprints("junk, =x,web=") == {}
    assert injected_containers({INJECTED_ANNOTATION: "web, worker"}) == ["web", "worker"]
    assert injected_containers(None) == []


def test_injection_status_of_a_pod_this_tool_wrote(seed_project):
    import yaml

    from downstream_sync.inject import ConfigSource, InjectRequest, inject_manifests, rules_from_project
    from downstream_sync.inject.names import injection_status

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "app", "image": "node-example:1"}, {"name": "side", "image": "busybox"}]}}
    rules = rules_from_project(seed_project / "skaffold.yaml")
    source = ConfigSource({"node-example": seed_project / "node-example.json"}, use_docker=False, use_registry=False)
    annotations = yaml.safe_load(inject_manifests(yaml.safe_dump(pod), InjectRequest(rules, source)).text)[
        "metadata"]["annotations"]
    assert injection_status(annotations, "app", rules[0].fingerprint) == "same"
    assert injection_status(annotations, "app", rules_fingerprint(["src"], [])) == "other"
    assert injection_status(annotations, "side", rules[0].fingerprint) == "none"
    assert injection_status(None, "app", rules[0].fingerprint) == "none"
