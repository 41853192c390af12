"""Image configs from a real registry (Debian's docker-registry on loopback, filesystem storage,
images pushed by the test through the distribution API): Docker schema 2 and OCI manifests, a
multi-platform index, basic credentials from the Docker config, errors; and from a file."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from downstream_sync.inject.imageconfig import ConfigSource, ImageConfigError, config_from_json
from downstream_sync.inject.images import parse_ref
from downstream_sync.inject.registry import RegistryClient, RegistryError, fetch_image_config
from injecttools import SEED_IMAGE_CONFIG, Registry, run_cli

OTHER = {"Entrypoint": ["/arm-entry"], "Cmd": ["x"], "WorkingDir": "/arm"}


def test_docker_schema2_image(registry):
    registry.push_image("team/node-example", "v1", SEED_IMAGE_CONFIG)
    config = fetch_image_config(f"{registry.host}/team/node-example:v1")
    assert (config.entrypoint, config.cmd, config.working_dir) == (
        ["docker-entrypoint.sh"], ["/bin/sh", "-c", "npm run $NODE_ENV"], "/home/node/app")
    assert config.env["NODE_ENV"] == "development"


def test_oci_image_by_tag_and_by_digest(registry):
    digest = registry.push_image("node-example", "oci", SEED_IMAGE_CONFIG, oci=True)
    for ref in (f"{registry.host}/node-example:oci", f"{registry.host}/node-example@{digest}",
                f"{registry.host}/node-example:ignored@{digest}"):
        assert fetch_image_config(ref).working_dir == "/home/node/app"


def test_multi_platform_index_picks_the_platform(registry):
    registry.push_index("multi", "v1", {("linux", "amd64"): SEED_IMAGE_CONFIG, ("linux", "arm64"): OTHER})
    assert fetch_image_config(f"{registry.host}/multi:v1", platform_=("linux", "amd64")).working_dir == "/home/node/app"
    assert fetch_image_config(f"{registry.host}/multi:v1", platform_=("linux", "arm64")).entrypoint == ["/arm-entry"]
    with pytest.raises(RegistryError, match=r"has no linux/s390x image \(platforms: linux/amd64, linux/arm64\)"):
        fetch_image_config(f"{registry.host}/multi:v1", platform_=("linux", "s390x"))


def test_unknown_image_and_tag(registry):
    registry.push_image("known", "v1", SEED_IMAGE_CONFIG)
    for ref in (f"{registry.host}/known:v2", f"{registry.host}/unknown:v1"):
        with pytest.raises(RegistryError, match=r"has no such image .*MANIFEST_UNKNOWN|NAME_UNKNOWN"):
            fetch_image_config(ref)


def test_the_cli_reads_the_config_from_the_registry(registry, seed_project):
    registry.push_image("node-example", "abc", SEED_IMAGE_CONFIG, oci=True)
    image = f"{registry.host}/node-example:abc"
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                           "spec": {"containers": [{"name": "c", "image": image}]}})
    done = run_cli(["inject", "-f", "skaffold.yaml"], text, seed_project)
    assert done.returncode == 0, done.stderr
    c = yaml.safe_load(done.stdout)["spec"]["containers"][0]
    assert c["args"] == ["--workdir", "/home/node/app", "--targets", "src,abc", "--excludes", "node_modules/*,abc/bb.js",
                         "--", "docker-entrypoint.sh", "/bin/sh", "-c", "npm run $NODE_ENV"]


def _bcrypt_htpasswd(user: str, password: str) -> str:
    """An htpasswd line with a bcrypt hash (what docker-registry accepts), from apache2-utils' htpasswd."""
    tool = shutil.which("htpasswd")
    if tool is None:
        pytest.fail("this test needs htpasswd (apt-get install apache2-utils); scripts/test.sh installs it")
    return subprocess.run([tool, "-nbB", user, password], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def private_registry(tmp_path):
    root = tmp_path / "private"
    root.mkdir()
    (root / "htpasswd").write_text(_bcrypt_htpasswd("dev", "s3cret") + "\n")
    r = Registry(root, htpasswd=root / "htpasswd")
    r.auth = ("dev", "s3cret")
    yield r
    r.stop()


def test_basic_credentials_from_the_docker_config(private_registry, tmp_path, monkeypatch):
    private_registry.push_image("private/app", "v1", SEED_IMAGE_CONFIG)
    ref = f"{private_registry.host}/private/app:v1"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    with pytest.raises(RegistryError, match="needs credentials"):
        fetch_image_config(ref)
    (tmp_path / "docker").mkdir()
    config = tmp_path / "docker" / "config.json"
    config.write_text(json.dumps({"auths": {private_registry.host: {"auth": base64.b64encode(b"dev:wrong").decode()}}}))
    with pytest.raises(RegistryError, match="refused the credentials|needs credentials"):
        fetch_image_config(ref)
    config.write_text(json.dumps({"auths": {f"http://{private_registry.host}": {
        "auth": base64.b64encode(b"dev:s3cret").decode()}}}))
    assert fetch_image_config(ref).working_dir == "/home/node/app"


def test_config_files_of_every_shape(tmp_path):
    inspect = [{"Id": "sha256:x", "Config": SEED_IMAGE_CONFIG, "ContainerConfig": {"Cmd": ["wrong"]}}]
    blob = {"architecture": "amd64", "os": "linux", "config": SEED_IMAGE_CONFIG}
    for data in (SEED_IMAGE_CONFIG, inspect, blob):
        config = config_from_json(data, "f")
        assert (config.entrypoint, config.working_dir) == (["docker-entrypoint.sh"], "/home/node/app")
    with pytest.raises(ImageConfigError, match="Cmd must be a list of strings"):
        config_from_json({"Cmd": [1, 2]}, "f")
    (tmp_path / "tagged.json").write_text(json.dumps({"Cmd": ["tagged"]}))
    (tmp_path / "any.json").write_text(json.dumps({"Cmd": ["any"]}))
    source = ConfigSource({"web:v2": tmp_path / "tagged.json", "web": tmp_path / "any.json"},
                          use_docker=False, use_registry=False)
    assert source.get("web:v2").cmd == ["tagged"]
    assert source.get("web:v3").cmd == ["any"]
    assert source.get("gcr.io/p/web:v3").cmd == ["any"]
    with pytest.raises(ImageConfigError, match="cannot read the config of image other:1"):
        source.get("other:1")


@pytest.fixture
def token_registry(tmp_path):
    """docker-registry with `auth: token`, and the token service it sends clients to."""
    from injecttools import TokenIssuer

    root = tmp_path / "token"
    root.mkdir()
    issuer = TokenIssuer(root, "dev", "s3cret")
    realm = issuer.serve()
    r = Registry(root, auth_section=issuer.registry_auth(realm))
    r.bearer = issuer.token("pusher", [{"type": "repository", "name": "private/app", "actions": ["pull", "push"]}])
    yield r, issuer
    r.stop()
    issuer.stop()


def test_bearer_token_anonymous_then_with_credentials(token_registry, tmp_path, monkeypatch):
    registry, issuer = token_registry
    registry.push_image("private/app", "v1", SEED_IMAGE_CONFIG, oci=True)
    ref = f"{registry.host}/private/app:v1"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    with pytest.raises(RegistryError, match="needs credentials"):
        fetch_image_config(ref)  # an anonymous token grants nothing here
    assert issuer.requests and "scope=repository%3Aprivate%2Fapp%3Apull" in issuer.requests[-1]
    assert "service=test-registry" in issuer.requests[-1]
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {registry.host: {
        "username": "dev", "password": "s3cret"}}}))
    config = fetch_image_config(ref)
    assert (config.entrypoint, config.working_dir) == (["docker-entrypoint.sh"], "/home/node/app")


def test_the_client_pushes_a_blob_with_a_push_token_from_the_docker_configs_credentials(token_registry, tmp_path,
                                                                                        monkeypatch):
    """POST an upload, PUT it (the Location's query carries `_state` already): each 401 is answered
    with a token for the scope the challenge names, `pull,push`, got with the Docker config's
    credentials; the blob then reads back."""
    registry, issuer = token_registry
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {registry.host: {
        "username": "dev", "password": "s3cret"}}}))
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(300_000))
    digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    client = RegistryClient(parse_ref(f"{registry.host}/private/pushed:v1"), 20, actions="pull,push")
    status, answer, _ = client.request("POST", "/v2/private/pushed/blobs/uploads/")
    assert status == 202, answer
    assert "scope=repository%3Aprivate%2Fpushed%3Apull%2Cpush" in issuer.requests[-1]
    location = answer["location"]
    joiner = "&" if "?" in location else "?"
    status, _, body = client.request("PUT", f"{location}{joiner}digest={digest}", body=Path(blob),
                                     headers={"Content-Type": "application/octet-stream"})
    assert status == 201, body
    _, back = client.get(f"/v2/private/pushed/blobs/{digest}")
    assert back == blob.read_bytes()


def test_credentials_from_a_credential_helper(private_registry, tmp_path, monkeypatch):
    private_registry.push_image("private/app", "v2", SEED_IMAGE_CONFIG)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-testhelper"
    helper.write_text("#!/bin/sh\nread server\n"
                      f"[ \"$1\" = get ] && [ \"$server\" = {private_registry.host} ] && "
                      "echo '{\"Username\":\"dev\",\"Secret\":\"s3cret\"}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"credHelpers": {private_registry.host: "testhelper"}}))
    assert fetch_image_config(f"{private_registry.host}/private/app:v2").working_dir == "/home/node/app"
