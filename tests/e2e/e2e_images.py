"""Test equipment: the images the end-to-end tests run, and where the cluster finds them.

Built once a run, without a container daemon: the example app (busybox and the app's script),
a container without a shell (busybox as /bin/sleep alone), and the helper image of helper/image.sh
(no Python, no shell). Then either imported into the test node's containerd (`ctr images
import`, pull policy Never), or pushed to a registry through the distribution API (e2e_registry.py)
and named by digest, so that the kubelet pulls exactly what this run built (pull policy
IfNotPresent): the registry of DOWNSTREAM_SYNC_E2E_REGISTRY, or one of our own on loopback.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
from dataclasses import dataclass

from e2e_registry import push_archive, push_layout, split_registry
from kube_node import busybox_rootfs, host_pod, oci_archive
from kube_testbed import ROOT

REGISTRY_ENV = "DOWNSTREAM_SYNC_E2E_REGISTRY"
APP = "ds-e2e/example-app"
NO_SHELL = "ds-e2e/no-shell"
HELPER = "downstream-sync/helper"
APP_TAG = "1"

# The seed's example app, in sh: creates, modifies, renames and deletes files in src and abc, and
# writes into node_modules (excluded); then marks itself done and sleeps.
EXAMPLE_APP = """\
set -e
mkdir -p src/node_modules/lib abc
echo 'console.log("a")' > src/a.js
echo 'one' > src/b.js
mv src/b.js src/renamed.js
echo 'gone soon' > src/gone.js
rm src/gone.js
echo 'exports.x = 1' > src/node_modules/lib/index.js
echo 'aa' > abc/aa.js
echo 'bb, excluded' > abc/bb.js
echo 'console.log("modified")' >> src/a.js
touch /tmp/done
exec sleep 2147483647
"""
APP_CONFIG = {"Entrypoint": ["/bin/sh", "/app/run.sh"], "WorkingDir": "/app"}  # as the image says


@dataclass(frozen=True)
class Built:
    """The images of one run: OCI archives of the app images, the helper's OCI layout and tag."""

    app: pathlib.Path
    no_shell: pathlib.Path
    helper: pathlib.Path
    helper_tag: str


def build(where: pathlib.Path) -> Built:
    subprocess.run(["bash", "helper/image.sh", str(where / "helper")], cwd=ROOT, check=True, timeout=1200)
    index = json.loads((where / "helper" / "index.json").read_text())
    (helper_tag,) = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    rootfs = busybox_rootfs(where / "app-rootfs")
    (rootfs / "app").mkdir()
    (rootfs / "app" / "run.sh").write_text(EXAMPLE_APP)
    bare = where / "no-shell-rootfs" / "bin"
    bare.mkdir(parents=True)
    shutil.copy2("/bin/busybox", bare / "sleep")
    return Built(
        app=oci_archive(where / "app.tar", rootfs, entrypoint=APP_CONFIG["Entrypoint"],
                        workdir=APP_CONFIG["WorkingDir"]),
        no_shell=oci_archive(where / "no-shell.tar", bare.parent, entrypoint=["/bin/sleep", "2147483647"]),
        helper=where / "helper", helper_tag=helper_tag)


@dataclass(frozen=True)
class Images:
    """The references the manifests use, and how their pods get them. `registry` is our own
    registry (e2e_registry.LocalRegistry) when the images are there, else None."""

    app: str
    no_shell: str
    helper: str
    pull_policy: str  # Never: imported into the node; IfNotPresent: the kubelet pulls them
    on_test_node: bool  # the node of kube_node.py, rather than a context's cluster
    registry: object | None = None

    def pod(self, name: str, image: str, **container) -> dict:
        """A pod of one container `app` running `image`: on the test node, bound to it with the
        host's network (kube_node.host_pod); on a context's cluster, left to its scheduler."""
        pod = host_pod(name, image, imagePullPolicy=self.pull_policy, **container)
        if not self.on_test_node:
            del pod["spec"]["nodeName"], pod["spec"]["hostNetwork"]
        return pod


def imported(built: Built, node) -> Images:
    """The images imported into the test node's containerd."""
    helper_archive = built.helper.parent / "helper.tar"
    subprocess.run(["tar", "-C", str(built.helper), "-cf", str(helper_archive), "."], check=True)
    helper = f"{HELPER}:{built.helper_tag}"
    node.import_image(helper_archive, f"docker.io/{helper}")
    node.import_image(built.no_shell, f"docker.io/{NO_SHELL}:{APP_TAG}")
    node.import_image(built.app, f"docker.io/{APP}:{APP_TAG}")
    return Images(f"{APP}:{APP_TAG}", f"{NO_SHELL}:{APP_TAG}", helper, "Never", True)


def pushed(built: Built, registry: str, *, on_test_node: bool, local=None) -> Images:
    """The images pushed below `registry` ([http://]host[:port][/path]), named by digest."""
    prefix, scheme = split_registry(registry)
    return Images(
        app=push_archive(built.app, APP_TAG, f"{prefix}/{APP}", scheme),
        no_shell=push_archive(built.no_shell, APP_TAG, f"{prefix}/{NO_SHELL}", scheme),
        helper=push_layout(built.helper, built.helper_tag, f"{prefix}/{HELPER}", scheme),
        pull_policy="IfNotPresent", on_test_node=on_test_node, registry=local)
