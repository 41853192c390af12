"""The names an injected pod carries, and the rules' fingerprint: facts the injector writes and the
engine reads (to choose between connecting and attaching, and to warn when a running pod was
injected from other rules). Pure values; must not import YAML, pygls, lsprotocol or the terminal.

    pod annotations:  downstream-sync.dev/injected: "web,worker"          (the injected containers)
                      downstream-sync.dev/fingerprint: "web=3f2a...,worker=91c0..."
"""

from __future__ import annotations

import hashlib
import json

from sync_helper.frozen import APP_TMPDIR_ENV

__all__ = ["INJECTED_ANNOTATION", "FINGERPRINT_ANNOTATION", "HELPER_VERSION", "DEFAULT_HELPER_IMAGE",
           "VOLUME_NAME", "MOUNT_PATH", "INIT_CONTAINER_NAME", "APP_SERVER", "APP_TMPDIR", "HELPER_TMPDIR",
           "rules_fingerprint", "format_fingerprints", "parse_fingerprints", "injected_containers",
           "injection_status"]

INJECTED_ANNOTATION = "downstream-sync.dev/injected"
FINGERPRINT_ANNOTATION = "downstream-sync.dev/fingerprint"

HELPER_VERSION = "0.1.0"
DEFAULT_HELPER_IMAGE = f"ghcr.io/downstream-sync/helper:{HELPER_VERSION}"

VOLUME_NAME = "downstream-sync-helper"
MOUNT_PATH = "/sync-helper"
INIT_CONTAINER_NAME = "downstream-sync-install"
APP_SERVER = f"{MOUNT_PATH}/app-server"
INSTALL_COMMAND = ["/app-server", "--install", MOUNT_PATH]
HELPER_TMPDIR = f"{MOUNT_PATH}/tmp"  # made by `app-server --install`; the standalone binaries unpack there
APP_TMPDIR = APP_TMPDIR_ENV  # the app's own TMPDIR, given back to it by app-server


def rules_fingerprint(targets: list[str], excludes: list[str]) -> str:
    """A short digest of one container's rules, order-free: the remoteSrc values as
    sync.rules.normalize_remote spells them, and the excludes as written."""
    canonical = json.dumps({"targets": sorted(set(targets)), "excludes": sorted(set(excludes))},
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def format_fingerprints(by_container: dict[str, str]) -> str:
    return ",".join(f"{name}={fp}" for name, fp in sorted(by_container.items()))


def parse_fingerprints(value: str | None) -> dict[str, str]:
    """The fingerprint annotation's value as {container: fingerprint}; junk is ignored."""
    result = {}
    for item in (value or "").split(","):
        name, sep, fp = item.strip().partition("=")
        if sep and name and fp:
            result[name] = fp
    return result


def injected_containers(annotations: dict | None) -> list[str]:
    """The containers a pod's annotations say were injected (empty: not injected)."""
    value = (annotations or {}).get(INJECTED_ANNOTATION) or ""
    return [n for n in (s.strip() for s in str(value).split(",")) if n]


def injection_status(annotations: dict | None, container: str, fingerprint: str) -> str:
    """What a running pod says of one container: "none" (not injected: attach the helper), "same"
    (injected from these rules: connect), "other" (injected from other rules: connect, and warn
    that the pod should be deployed again)."""
    if container not in injected_containers(annotations):
        return "none"
    found = parse_fingerprints((annotations or {}).get(FINGERPRINT_ANNOTATION)).get(container)
    return "same" if found == fingerprint else "other"
