"""Test equipment: pushing OCI image layouts to a registry through the project's distribution-API
client (inject/registry.py: its authentication, Docker config credentials included), and a
registry of our own for the test node: Debian's `docker-registry` on 127.0.0.1 with filesystem
storage, whose access log tells which manifests containerd fetched.

A push is the distribution API's: each blob the registry lacks (HEAD, then POST an upload and PUT
it with `digest=`, appended to the upload's Location, which carries `?_state=` already), then the
manifest, its bytes as they are (so its digest holds), by tag, with the manifest's own media type.
The manifest is read back with every manifest type in `Accept` and must have the same digest (a
registry that converted it, or stored another, would be caught here).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import pathlib
import re
import tarfile
import tempfile
import urllib.parse

from downstream_sync.inject.images import parse_ref
from downstream_sync.inject.registry import MANIFEST_TYPES, RegistryClient, RegistryError

from kube_testbed import WAIT, Process, free_port, wait_for

REF_NAME = "org.opencontainers.image.ref.name"


def split_registry(value: str) -> tuple[str, str | None]:
    """`[http://|https://]host[:port][/path]` as (host[:port][/path], scheme or None); ValueError
    saying what is wrong."""
    scheme = None
    text = value.strip().rstrip("/")
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in ("http", "https"):
            raise ValueError(f"{value!r}: the scheme must be http:// or https://, not {scheme}://")
    host = text.split("/", 1)[0]
    if not host or not ("." in host or ":" in host or host == "localhost"):
        raise ValueError(f"{value!r} does not start with a registry host (host:port, or a name with a dot, "
                         "e.g. localhost:5000/ds-e2e or registry.example:5000/team)")
    if text != text.lower():
        raise ValueError(f"{value!r}: a repository path must be lowercase")
    return text, scheme


def push_layout(layout: pathlib.Path, tag: str, repository: str, scheme: str | None = None) -> str:
    """Push the image tagged `tag` in the OCI layout `layout` to `repository` (host[:port]/path)
    as `repository:tag`; returns `repository@DIGEST`. RegistryError saying what failed."""
    ref = parse_ref(f"{repository}:{tag}")
    client = RegistryClient(ref, WAIT * 2, scheme=scheme, actions="pull,push")
    index = json.loads((layout / "index.json").read_text())
    found = [m for m in index.get("manifests", []) if (m.get("annotations") or {}).get(REF_NAME) == tag]
    if len(found) != 1:
        raise RegistryError(f"{layout}: {len(found)} images tagged {tag!r} in index.json, not one")
    descriptor = found[0]
    manifest_bytes = _blob(layout, descriptor["digest"]).read_bytes()
    manifest = json.loads(manifest_bytes)
    for blob in [manifest["config"], *manifest.get("layers", [])]:
        _push_blob(client, layout, blob["digest"])
    path = f"/v2/{ref.repository}/manifests/{tag}"
    status, answer, body = client.request("PUT", path, headers={"Content-Type": descriptor["mediaType"]},
                                          body=manifest_bytes)
    if status != 201:
        raise RegistryError(f"PUT of the manifest: {client.explain(status, body, path)}")
    digest = descriptor["digest"]
    said = answer.get("docker-content-digest")
    if said and said != digest:
        raise RegistryError(f"{ref.registry} stored the manifest of {ref} as {said}, not {digest}")
    back, body = client.get(f"/v2/{ref.repository}/manifests/{digest}", ", ".join(MANIFEST_TYPES))
    if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
        raise RegistryError(f"{ref.registry} gives back another manifest for {ref} than the one pushed "
                            f"(content type {back.get('content-type')})")
    return f"{ref.registry}/{ref.repository}@{digest}"


def push_archive(archive: pathlib.Path, tag: str, repository: str, scheme: str | None = None) -> str:
    """push_layout() of an OCI archive (a tar of a layout, as kube_node.oci_archive makes)."""
    with tempfile.TemporaryDirectory() as work:
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
        return push_layout(pathlib.Path(work), tag, repository, scheme)


def _blob(layout: pathlib.Path, digest: str) -> pathlib.Path:
    algorithm, _, hexdigest = digest.partition(":")
    path = layout / "blobs" / algorithm / hexdigest
    if not re.fullmatch(r"[a-f0-9]{64}", hexdigest) or not path.is_file():
        raise RegistryError(f"{layout}: no blob {digest}")
    return path


def _push_blob(client: RegistryClient, layout: pathlib.Path, digest: str) -> None:
    repo = client.ref.repository
    status, _, _ = client.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    if status == 200:
        return  # there already (an earlier run, or another image's layer)
    path = f"/v2/{repo}/blobs/uploads/"
    status, answer, body = client.request("POST", path)
    if status != 202 or "location" not in answer:
        raise RegistryError(f"starting the upload of {digest}: {client.explain(status, body, path)}")
    location = urllib.parse.urljoin(client.base + path, answer["location"])  # absolute or relative
    joiner = "&" if urllib.parse.urlsplit(location).query else "?"
    status, _, body = client.request("PUT", f"{location}{joiner}digest={urllib.parse.quote(digest)}",
                                     headers={"Content-Type": "application/octet-stream"},
                                     body=_blob(layout, digest))
    if status != 201:
        raise RegistryError(f"uploading {digest}: {client.explain(status, body, path)}")


# A line of docker-registry's access log: "GET /v2/NAME/manifests/REF HTTP/1.1" 200 SIZE "REFERER" "AGENT"
_ACCESS = re.compile(r'"(?:GET|HEAD) /v2/(\S+)/manifests/(\S+) HTTP/[\d.]+" 200 \d+ "[^"]*" "containerd/')


class LocalRegistry:
    """docker-registry on 127.0.0.1 (a free port), storage and log in `where`."""

    def __init__(self, where: pathlib.Path):
        self.where = where
        self.host = f"127.0.0.1:{free_port()}"
        config = where / "registry.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n"
                          f"    rootdirectory: {where / 'data'}\nhttp:\n  addr: {self.host}\n")
        self.log = where / "registry.log"
        self.process = Process("docker-registry", ["docker-registry", "serve", str(config)], self.log)
        try:
            wait_for(self._answers, f"docker-registry to answer at {self.host}", [self.process], 0.1)
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(self.host, timeout=5)
        try:
            conn.request("GET", "/v2/")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def pulled_by_containerd(self) -> set[str]:
        """The repositories (without the host) whose manifests containerd fetched."""
        return {m.group(1) for m in _ACCESS.finditer(self.log.read_text(errors="replace"))}

    def stop(self) -> None:
        self.process.stop()
