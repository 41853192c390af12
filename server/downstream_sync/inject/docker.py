"""A local Docker daemon's view of an image's config, over its unix socket (DOCKER_HOST when it
names one, else /var/run/docker.sock), with the stdlib only. No daemon is not an error here: the
caller goes on to the registry. Must not import YAML, pygls, lsprotocol or the terminal.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse

from .imageconfig import ImageConfig, config_from_json

__all__ = ["DockerUnavailable", "docker_image_config", "docker_socket"]

DEFAULT_SOCKET = "/var/run/docker.sock"


class DockerUnavailable(Exception):
    """No daemon answers (the message says where it was looked for)."""


def docker_socket(environ=os.environ) -> str | None:
    """The daemon's unix socket, or None when DOCKER_HOST names something else (tcp://, ssh://)."""
    host = environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://"):
        return host[len("unix://"):]
    return None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def docker_image_config(image: str, *, socket_path: str | None = None, timeout: float = 5.0) -> ImageConfig | None:
    """The config of `image` as the daemon has it; None when the daemon lacks the image."""
    path = socket_path or docker_socket()
    if path is None:
        raise DockerUnavailable(f"DOCKER_HOST={os.environ.get('DOCKER_HOST')} is not a unix socket")
    if not os.path.exists(path):
        raise DockerUnavailable(f"no daemon socket at {path}")
    conn = _UnixConnection(path, timeout)
    try:
        conn.request("GET", f"/images/{urllib.parse.quote(image, safe='')}/json")
        response = conn.getresponse()
        body = response.read()
    except OSError as error:
        raise DockerUnavailable(f"the daemon at {path} does not answer ({error})") from None
    finally:
        conn.close()
    if response.status == 404:
        return None
    if response.status != 200:
        raise DockerUnavailable(f"the daemon at {path} answered {response.status}: {body[:200]!r}")
    try:
        data = json.loads(body)
    except ValueError:
        raise DockerUnavailable(f"the daemon at {path} answered something that is not JSON") from None
    return config_from_json(data, f"the Docker daemon at {path}")
