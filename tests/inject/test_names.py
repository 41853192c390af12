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
