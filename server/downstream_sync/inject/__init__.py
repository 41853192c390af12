"""Manifest rewriting that injects the helper into workloads.

One function for every face: `inject_manifests(text, InjectRequest(rules_from_project(path)))`.
Modules: manifests (the YAML stream and where kinds keep pod specs), rewrite (one pod template),
imageconfig (ENTRYPOINT/CMD/WorkingDir and where they come from), images (references, matching),
docker and registry (the two lookups), names (annotations and constants the engine reads too),
transform (the one function). Must not import pygls, lsprotocol, or anything of the terminal.
"""

from .imageconfig import ConfigSource, ImageConfig, ImageConfigError, parse_image_config_flag
from .names import DEFAULT_HELPER_IMAGE, FINGERPRINT_ANNOTATION, INJECTED_ANNOTATION, rules_fingerprint
from .rewrite import ContainerRules
from .transform import InjectError, InjectRequest, InjectResult, inject_manifests, rules_from_project

__all__ = ["inject_manifests", "InjectRequest", "InjectResult", "InjectError", "rules_from_project",
           "ContainerRules", "ConfigSource", "ImageConfig", "ImageConfigError", "parse_image_config_flag",
           "INJECTED_ANNOTATION", "FINGERPRINT_ANNOTATION", "DEFAULT_HELPER_IMAGE", "rules_fingerprint"]
