"""The injected container's command, args and env run as the pod would run them, here without a
cluster: the real app-server (in place of /sync-helper/app-server) with the injected args, the env
Kubernetes would give it, and the image's working folder as its current one. The helper must
understand every flag the injector writes, run the original command, and watch the targets
relative to --workdir."""

import json
import os
import subprocess
import sys
import time

import grpc
import yaml

from downstream_sync.inject import ConfigSource, InjectRequest, inject_manifests, rules_from_project
from injecttools import BIN
from sync_helper.wire import filedownload_pb2 as pb
from sync_helper.wire import filedownload_pb2_grpc as pb_grpc

APP = ("import os, sys, time; open(sys.argv[1], 'w').write(repr([os.getcwd(), os.environ.get('TMPDIR'), "
       "sys.argv[2:]])); time.sleep(600)")


def test_the_injected_container_runs_under_the_real_helper(tmp_path):
    workdir = tmp_path / "srv" / "app"
    (workdir / "out").mkdir(parents=True)
    for name in ("keep.txt", "drop.log", "x.tmp"):
        (workdir / "out" / name).write_text(name)
    marker = tmp_path / "ran.txt"
    (tmp_path / "skaffold.yaml").write_text(
        "apiVersion: skaffold/v4beta9\nkind: Config\nbuild:\n  artifacts:\n  - image: app\n    download:\n"
        "      manual:\n      - {remoteSrc: out, localDst: out}\n      excludes: ['*.log', '*.{tmp,bak}']\n")
    (tmp_path / "app.json").write_text(json.dumps({
        "Entrypoint": [sys.executable, "-c", APP, str(marker)], "Cmd": ["serve", "$(NOT_EXPANDED)"],
        "WorkingDir": str(workdir), "Env": ["TMPDIR=/image/tmp"]}))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "app:1"}]}}
    source = ConfigSource({"app": tmp_path / "app.json"}, use_docker=False, use_registry=False)
    result = inject_manifests(yaml.safe_dump(pod), InjectRequest(rules_from_project(tmp_path / "skaffold.yaml"), source))
    container = yaml.safe_load(result.text)["spec"]["containers"][0]

    volume = tmp_path / "sync-helper"  # the emptyDir
    volume.mkdir()
    env = {**os.environ, **{e["name"]: e["value"].replace("/sync-helper", str(volume)) for e in container["env"]}}
    args = [a.replace("$$(", "$(") for a in container["args"]]  # what Kubernetes hands the process
    sock = volume / "app-server.sock"
    assert container["command"] == ["/sync-helper/app-server"]
    with open(tmp_path / "helper.stderr", "wb") as err:
        proc = subprocess.Popen([str(BIN / "app-server"), "--socket", str(sock), *args], cwd=workdir, env=env,
                                stderr=err)
    try:
        deadline = time.monotonic() + 20
        while not (marker.exists() and marker.read_text() and sock.exists()) and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "helper.stderr").read_text()
            time.sleep(0.02)
        cwd, tmpdir, argv = eval(marker.read_text())  # noqa: S307  (our own repr)
        assert (cwd, tmpdir, argv) == (str(workdir), "/image/tmp", ["serve", "$(NOT_EXPANDED)"])
        with grpc.insecure_channel(f"unix:{sock}") as channel:
            request = pb.FileWatchRequest(protocol=1, since_version=1, instance_id="earlier")
            call = pb_grpc.FileServiceStub(channel).Watch(request, wait_for_ready=True, timeout=20)
            events = []
            for event in call:
                events.append(event)
                if event.kind == pb.FileEvent.SNAPSHOT_END:
                    break
            call.cancel()
        hello = events[0]
        assert hello.helper.working_dir == str(workdir)
        assert list(hello.helper.target_dirs) == [str(workdir / "out")]
        assert sorted(hello.helper.excludes) == ["*.log", "*.{tmp,bak}"]
        assert [e.path for e in events if e.kind == pb.FileEvent.SNAPSHOT_FILE] == ["out/keep.txt"]
    finally:
        proc.terminate()
        proc.wait(20)
