"""The Docker daemon lookup, and inject/ being core.

No Docker daemon can run on these machines, so the daemon side here is a small HTTP server on a
unix socket that answers the one Engine API call used (GET /images/NAME/json) with `docker
inspect`'s shape; everything else (the socket, HTTP, DOCKER_HOST, the fall-through) is real."""

import http.server
import json
import socketserver
import subprocess
import sys
import threading
import urllib.parse

import pytest

from downstream_sync.inject.docker import DockerUnavailable, docker_image_config, docker_socket
from downstream_sync.inject.imageconfig import ConfigSource, ImageConfigError
from injecttools import SEED_IMAGE_CONFIG


class _Daemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    def address_string(self):
        return "local"

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = urllib.parse.unquote(self.path.split("/")[2])
        if self.path.endswith("/json") and name == "node-example:v1":
            body = json.dumps({"Id": "sha256:1", "Config": SEED_IMAGE_CONFIG}).encode()
            self.send_response(200)
        else:
            body = b'{"message":"No such image"}'
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def daemon_socket(tmp_path):
    path = str(tmp_path / "docker.sock")
    server = _Daemon(path, _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_the_daemon_has_the_image_or_says_it_has_not(daemon_socket, monkeypatch):
    config = docker_image_config("node-example:v1", socket_path=daemon_socket)
    assert config.working_dir == "/home/node/app" and config.entrypoint == ["docker-entrypoint.sh"]
    assert docker_image_config("other:v1", socket_path=daemon_socket) is None
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon_socket}")
    assert docker_socket() == daemon_socket
    assert ConfigSource(use_registry=False).get("node-example:v1").cmd == ["/bin/sh", "-c", "npm run $NODE_ENV"]
    with pytest.raises(ImageConfigError, match="Docker daemon: no such image there"):
        ConfigSource(use_registry=False).get("other:v1")


def test_no_daemon_is_no_answer(tmp_path, monkeypatch):
    with pytest.raises(DockerUnavailable, match="no daemon socket"):
        docker_image_config("x", socket_path=str(tmp_path / "absent.sock"))
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert docker_socket() is None


def test_inject_imports_no_face(seed_project):
    pod = "{kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: node-example, command: [x]}]}}"
    code = (
        "import sys\n"
        "from downstream_sync.inject import inject_manifests, rules_from_project, ConfigSource, InjectRequest\n"
        "import downstream_sync.inject.registry, downstream_sync.inject.docker\n"
        f"rules = rules_from_project({str(seed_project / 'skaffold.yaml')!r})\n"
        f"src = ConfigSource({{'node-example': {str(seed_project / 'node-example.json')!r}}})\n"
        f"assert inject_manifests({pod!r}, InjectRequest(rules, src)).injected\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol', 'grpc', 'kubernetes')"
        " or m.startswith(('downstream_sync.lsp', 'downstream_sync.cli', 'downstream_sync.terminal')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
