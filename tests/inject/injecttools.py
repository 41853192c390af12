"""Test equipment for injection: a real registry (Debian's `docker-registry`, filesystem storage,
listening on loopback) and a client that pushes images to it through the distribution API, and
the seed's project and image config."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
CLI = str(BIN / "downstream-sync")

SEED_SKAFFOLD = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
 artifacts:
 - image: node-example
   context: node
   docker:
     buildArgs:
       ENV: development
   sync:
     manual:
     - src: 'src/**/*.js'
       dest: .
   download:
     manual:
       - remoteSrc: "src"
         localDst: "node/src"
       - remoteSrc: "abc"
         localDst: "node/abc"
     excludes:
       - "node_modules/*"
       - "abc/bb.js"
"""

# The seed's "Image Configuration", verbatim in substance.
SEED_IMAGE_CONFIG = {
    "Hostname": "", "Domainname": "", "User": "node",
    "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
    "ExposedPorts": {"3000/tcp": {}},
    "Tty": False, "OpenStdin": False, "StdinOnce": False,
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_VERSION=14.9.0",
            "YARN_VERSION=1.22.5", "NODE_ENV=development"],
    "Cmd": ["/bin/sh", "-c", "npm run $NODE_ENV"],
    "Image": "sha256:de685340ddbbc28ca0b59f74023b808306e84af53e93a1612dfd0f14e9c45953",
    "Volumes": None, "WorkingDir": "/home/node/app", "Entrypoint": ["docker-entrypoint.sh"],
    "OnBuild": None, "Labels": None,
}
SEED_TAG = "9233d8bc84f8ea4aac9a5ddcf5a37e2eb2aa35b8a2a981019f9947ed23668cb6"


def run_cli(args: list[str], stdin: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DOCKER_HOST": f"unix://{cwd}/no-docker.sock", "DOCKER_CONFIG": str(cwd / "docker"),
                **(env or {})}
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A running docker-registry on 127.0.0.1; `push_image` puts an image in it."""

    def __init__(self, root: Path, htpasswd: Path | None = None, auth_section: str = ""):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = root / "registry.yml"
        auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {htpasswd}\n" if htpasswd else auth_section
        config.write_text(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
                          f"http:\n  addr: {self.host}\n{auth}")
        self.log = root / "registry.log"
        self.auth: tuple[str, str] | None = None
        self.bearer: str | None = None  # a token the test made, for its own pushes
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out, stderr=out)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"docker-registry exited: {self.log.read_text()}")
            try:
                status, _, _ = self.request("GET", "/v2/")
                if status in (200, 401):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"docker-registry did not answer: {self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None):
        import base64

        conn = http.client.HTTPConnection(self.host, timeout=20)
        sent = dict(headers or {})
        if self.bearer:
            sent["Authorization"] = f"Bearer {self.bearer}"
        elif self.auth:
            sent["Authorization"] = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        try:
            conn.request(method, path, body=body or None, headers=sent)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, body = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert status == 202, (status, body)
        location = headers["location"]
        location = location.split(self.host, 1)[-1]  # absolute or relative
        joiner = "&" if "?" in location else "?"  # the Location carries ?_state=... already
        status, _, body = self.request("PUT", f"{location}{joiner}digest={digest}", data,
                                       {"Content-Type": "application/octet-stream"})
        assert status == 201, (status, body)
        return digest

    def push_manifest(self, repo: str, reference: str, manifest: dict, media_type: str) -> str:
        data = json.dumps(manifest).encode()
        status, _, body = self.request("PUT", f"/v2/{repo}/manifests/{reference}", data, {"Content-Type": media_type})
        assert status == 201, (status, body)
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def push_image(self, repo: str, tag: str, config: dict, *, oci: bool = False, platform=("linux", "amd64")) -> str:
        """Push a one-layer image whose config holds `config`; returns the manifest's digest."""
        blob = json.dumps({"architecture": platform[1], "os": platform[0], "config": config,
                           "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00"  # empty gzip
        config_digest, layer_digest = self.push_blob(repo, blob), self.push_blob(repo, layer)
        if oci:
            types = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json",
                     "application/vnd.oci.image.layer.v1.tar+gzip")
        else:
            types = ("application/vnd.docker.distribution.manifest.v2+json",
                     "application/vnd.docker.container.image.v1+json",
                     "application/vnd.docker.image.rootfs.diff.tar.gzip")
        manifest = {"schemaVersion": 2, "mediaType": types[0],
                    "config": {"mediaType": types[1], "size": len(blob), "digest": config_digest},
                    "layers": [{"mediaType": types[2], "size": len(layer), "digest": layer_digest}]}
        return self.push_manifest(repo, tag, manifest, types[0])

    def push_index(self, repo: str, tag: str, images: dict[tuple[str, str], dict]) -> None:
        """An OCI index of one image per (os, architecture)."""
        entries = []
        for (os_name, arch), config in images.items():
            digest = self.push_image(repo, f"{os_name}-{arch}", config, oci=True, platform=(os_name, arch))
            status, headers, body = self.request("HEAD", f"/v2/{repo}/manifests/{digest}", headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json"})
            assert status == 200, status
            entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                            "size": int(headers["content-length"]), "platform": {"os": os_name, "architecture": arch}})
        self.push_manifest(repo, tag, {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                       "manifests": entries}, "application/vnd.oci.image.index.v1+json")


@pytest.fixture
def registry(tmp_path):
    if shutil.which("docker-registry") is None:
        pytest.fail("these tests need Debian's docker-registry (apt-get install docker-registry); "
                    "scripts/test.sh installs it")
    root = tmp_path / "registry-root"
    root.mkdir()
    r = Registry(root)
    yield r
    r.stop()


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """A bearer-token service for docker-registry's `auth: token`: an RSA key and self-signed
    certificate made by openssl, and JWTs (RS256, with the certificate in `x5c`) signed by openssl.
    `serve()` answers GET /token?service=&scope= on loopback: credentials `user:password` give the
    scope's actions, anonymous callers a token without access (as public registries do)."""

    SERVICE, ISSUER = "test-registry", "test-issuer"

    def __init__(self, root: Path, user: str, password: str):
        import base64

        self.root, self.user, self.password = root, user, password
        self.key, self.cert = root / "token.key", root / "token.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(self.cert), "-days", "2", "-subj", "/CN=test-token-issuer"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[str] = []
        self.server = None

    def token(self, subject: str, access: list[dict]) -> str:
        import uuid

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": self.ISSUER, "sub": subject, "aud": self.SERVICE, "exp": now + 600, "nbf": now - 60,
                  "iat": now - 60, "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                                   check=True, capture_output=True).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def registry_auth(self, realm: str) -> str:
        return (f"auth:\n  token:\n    realm: {realm}\n    service: {self.SERVICE}\n    issuer: {self.ISSUER}\n"
                f"    rootcertbundle: {self.cert}\n")

    def serve(self) -> str:
        """Start answering on loopback; returns the realm URL."""
        import base64
        import http.server
        import threading
        import urllib.parse

        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                issuer.requests.append(self.path)
                given = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{issuer.user}:{issuer.password}".encode()).decode()
                if given and given != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                access = []
                if given and query.get("scope"):
                    _, name, actions = query["scope"][0].split(":")
                    access = [{"type": "repository", "name": name, "actions": actions.split(",")}]
                body = json.dumps({"token": issuer.token(issuer.user if given else "", access)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
