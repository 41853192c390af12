"""Reading an image's config from its registry over the OCI distribution API, with the stdlib.

Manifest (Accept: OCI and Docker manifests, indexes and lists), the platform's manifest when the
answer is an index, then the config blob, checked against its digest. Authentication: anonymous,
then what a 401 asks for: a bearer token from its realm, or basic credentials, both with the
credentials of the Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`:
`auths`, `credHelpers`, `credsStore`). Loopback registries are spoken to over plain HTTP, others
over HTTPS. Must not import YAML, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import os
import platform
import re
import subprocess
import urllib.parse
from pathlib import Path

from .imageconfig import ImageConfig, config_from_json
from .images import DOCKER_HUB, ImageRef, parse_ref

__all__ = ["RegistryError", "RegistryClient", "fetch_image_config", "MANIFEST_TYPES", "registry_credentials", "default_platform"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST)
_INDEXES = (OCI_INDEX, DOCKER_LIST)
_MAX_BODY = 16 << 20


class RegistryError(Exception):
    """The registry cannot give the config; the message says which registry and why."""


def default_platform() -> tuple[str, str]:
    """(os, architecture) as image indexes name them, for this machine's nodes' likeliest kind."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return "linux", arch


def _is_loopback(registry: str) -> bool:
    host = urllib.parse.urlsplit(f"//{registry}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_host(registry: str) -> str:
    return "registry-1.docker.io" if registry == DOCKER_HUB else registry


# --- credentials -------------------------------------------------------------------------------


def _docker_config() -> dict:
    folder = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    path = Path(folder) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise RegistryError(f"cannot read {path}: {error}") from None
    return data if isinstance(data, dict) else {}


def _auth_keys(registry: str) -> list[str]:
    if registry == DOCKER_HUB:
        return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
    return [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/", f"https://{registry}/v2/"]


def _helper_credentials(helper: str, server: str) -> tuple[str, str] | None:
    try:
        done = subprocess.run([f"docker-credential-{helper}", "get"], input=server, capture_output=True,
                              text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        data = json.loads(done.stdout)
        return data["Username"], data["Secret"]
    except (ValueError, KeyError, TypeError):
        return None


def registry_credentials(registry: str) -> tuple[str, str] | None:
    """(user, password) for `registry` from the Docker config, or None."""
    config = _docker_config()
    keys = _auth_keys(registry)
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if isinstance(helpers, dict) and helpers.get(key):
            return _helper_credentials(helpers[key], key)
    auths = config.get("auths") or {}
    for key in keys:
        entry = auths.get(key) if isinstance(auths, dict) else None
        if not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise RegistryError(f"the Docker config's auth for {key} is not base64 of user:password") from None
            return user, password
        if entry.get("username"):
            return entry["username"], entry.get("password", "")
    if config.get("credsStore"):
        for key in keys[:2]:
            found = _helper_credentials(config["credsStore"], key)
            if found:
                return found
    return None


# --- HTTP ----------------------------------------------------------------------------------------


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class RegistryClient:
    """The distribution API of the registry of `ref`, for its repository: `request` sends one
    request and answers a 401 the way it asks (bearer token or basic credentials, see the module
    docstring). `scheme` overrides plain HTTP for loopback, HTTPS for the rest. `actions` is the
    scope asked of a token service whose challenge names none (`pull`, or `pull,push`)."""

    def __init__(self, ref: ImageRef, timeout: float, *, scheme: str | None = None, actions: str = "pull"):
        self.ref = ref
        self.timeout = timeout
        self.scheme = scheme or ("http" if _is_loopback(ref.registry) else "https")
        self.base = f"{self.scheme}://{_api_host(ref.registry)}"
        self.actions = actions
        self.authorization: str | None = None
        self._credentials: tuple[str, str] | None | bool = False  # False: not looked up yet

    def credentials(self) -> tuple[str, str] | None:
        if self._credentials is False:
            self._credentials = registry_credentials(self.ref.registry)
        return self._credentials

    def _send(self, method: str, url: str, headers: dict[str, str],
              body: bytes | Path | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request; a GET or HEAD follows redirects (credentials are dropped when the host
        changes). A Path body is streamed from the file."""
        host = urllib.parse.urlsplit(url).netloc
        for _ in range(6):
            parts = urllib.parse.urlsplit(url)
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = cls(parts.netloc, timeout=self.timeout)
            sent = dict(headers)
            if parts.netloc != host:
                sent.pop("Authorization", None)
            try:
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                if isinstance(body, Path):
                    with open(body, "rb") as data:
                        sent["Content-Length"] = str(os.fstat(data.fileno()).st_size)
                        conn.request(method, target, body=data, headers=sent)
                else:
                    conn.request(method, target, body=body, headers=sent)
                response = conn.getresponse()
                answer_body = response.read(_MAX_BODY + 1)
            except (OSError, http.client.HTTPException) as error:
                raise RegistryError(f"{self.ref.registry} does not answer at {parts.scheme}://{parts.netloc} "
                                    f"({error})") from None
            finally:
                conn.close()
            if len(answer_body) > _MAX_BODY:
                raise RegistryError(f"{url}: the answer is larger than {_MAX_BODY >> 20} MiB")
            answer = {k.lower(): v for k, v in response.getheaders()}
            if (method in ("GET", "HEAD") and response.status in (301, 302, 303, 307, 308)
                    and "location" in answer):
                url = urllib.parse.urljoin(url, answer["location"])
                continue
            return response.status, answer, answer_body
        raise RegistryError(f"{url}: too many redirects")

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: bytes | Path | None = None) -> tuple[int, dict[str, str], bytes]:
        """Send `method` to `path` (below the registry, or an absolute URL such as an upload's
        Location), authenticating once when a 401 asks; (status, lower-case headers, body)."""
        url = path if "://" in path else self.base + path
        sent = dict(headers or {})
        for attempt in range(2):
            if self.authorization:
                sent["Authorization"] = self.authorization
            status, answer, data = self._send(method, url, sent, body)
            if status == 401 and attempt == 0 and self._authenticate(answer.get("www-authenticate", "")):
                continue
            if status == 401 and attempt == 1 and self.credentials():
                raise RegistryError(f"{self.ref.registry} refused the credentials of the Docker config for "
                                    f"{self.ref.repository}")
            return status, answer, data
        raise AssertionError("unreachable")

    def get(self, path: str, accept: str | None = None) -> tuple[dict[str, str], bytes]:
        status, answer, body = self.request("GET", path, headers={"Accept": accept} if accept else {})
        if status == 200:
            return answer, body
        raise RegistryError(self.explain(status, body, path))

    def explain(self, status: int, body: bytes, path: str) -> str:
        """What an unexpected answer means, with the registry's own error codes."""
        detail = ""
        try:
            errors = json.loads(body).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
        except (ValueError, AttributeError):
            pass
        what = {401: "needs credentials (docker login, or ~/.docker/config.json)", 403: "refused access",
                404: "has no such image"}.get(status, f"answered {status}")
        return f"{self.ref.registry} {what} for {self.ref.repository}:{self.ref.reference}" + \
            (f" ({detail})" if detail else "")

    def _authenticate(self, header: str) -> bool:
        scheme, params = _challenge(header)
        creds = self.credentials()
        if scheme == "basic":
            if not creds:
                return False
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            self.authorization = f"Basic {token}"
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        query = {"scope": params.get("scope") or f"repository:{self.ref.repository}:{self.actions}"}
        if params.get("service"):
            query["service"] = params["service"]
        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urllib.parse.urlencode(query)
        headers = {}
        if creds:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        status, _, body = self._send("GET", url, headers)
        if status != 200:
            raise RegistryError(f"the token service of {self.ref.registry} ({params['realm']}) answered {status}"
                                + ("; check the credentials in the Docker config" if creds else
                                   "; the image may need credentials (docker login)"))
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise RegistryError(f"the token service of {self.ref.registry} gave no token")
        self.authorization = f"Bearer {token}"
        return True


# --- the config ---------------------------------------------------------------------------------


def _json(body: bytes, what: str):
    try:
        return json.loads(body)
    except ValueError:
        raise RegistryError(f"{what} is not JSON") from None


def _pick_platform(index: dict, ref: ImageRef, want: tuple[str, str]) -> str:
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict) and m.get("digest")]
    platforms = []
    for m in entries:
        p = m.get("platform") or {}
        platforms.append(f"{p.get('os', '?')}/{p.get('architecture', '?')}")
        if (p.get("os"), p.get("architecture")) == want:
            return m["digest"]
    real = [m for m, name in zip(entries, platforms) if name != "unknown/unknown"]  # attestations
    if len(real) == 1:
        return real[0]["digest"]
    raise RegistryError(f"{ref} has no {want[0]}/{want[1]} image (platforms: {', '.join(platforms) or 'none'})")


def fetch_image_config(image: str, *, timeout: float = 10.0, platform_: tuple[str, str] | None = None) -> ImageConfig:
    """The config of `image` from its registry; raises RegistryError."""
    try:
        ref = parse_ref(image)
    except ValueError as error:
        raise RegistryError(str(error)) from None
    client = RegistryClient(ref, timeout)
    repo = ref.repository
    answer, body = client.get(f"/v2/{repo}/manifests/{ref.reference}", ", ".join(MANIFEST_TYPES))
    manifest = _json(body, f"the manifest of {ref}")
    kind = (answer.get("content-type", "").split(";")[0].strip() or manifest.get("mediaType") or "")
    if kind in _INDEXES or (not kind and "manifests" in manifest):
        digest = _pick_platform(manifest, ref, platform_ or default_platform())
        answer, body = client.get(f"/v2/{repo}/manifests/{digest}", ", ".join(MANIFEST_TYPES))
        manifest = _json(body, f"the manifest {digest} of {ref}")
        kind = answer.get("content-type", "").split(";")[0].strip() or manifest.get("mediaType") or ""
    if kind in (DOCKER_V1, DOCKER_V1_SIGNED) or manifest.get("schemaVersion") == 1:
        history = manifest.get("history") or [{}]
        data = _json(history[0].get("v1Compatibility", "{}").encode(), f"the schema 1 manifest of {ref}")
        return config_from_json(data, f"registry {ref.registry}")
    config = manifest.get("config") or {}
    digest = config.get("digest")
    if not isinstance(digest, str) or ":" not in digest:
        raise RegistryError(f"the manifest of {ref} names no config blob")
    _, blob = client.get(f"/v2/{repo}/blobs/{digest}")
    algorithm, _, expected = digest.partition(":")
    if algorithm in ("sha256", "sha512") and hashlib.new(algorithm, blob).hexdigest() != expected:
        raise RegistryError(f"the config blob of {ref} does not match its digest {digest}")
    return config_from_json(_json(blob, f"the config blob of {ref}"), f"registry {ref.registry}")
