"""Skaffold's event stream read into "the deploy is up" moments (skaffold/events.py).

The failing iteration is read from events the real Skaffold writes (`dev --event-log-file`, the
same objects /v2/events streams, there under "result"). A succeeding iteration needs a cluster to
deploy to, which is not here: its events are written in the shape of the real ones (the captured
DevLoop event with status Succeeded, as proto/v2/skaffold.proto's TaskEvent has it); the cluster
tests see the real ones.
"""

from __future__ import annotations

import json
import subprocess

from downstream_sync.config.strip import strip_download
from downstream_sync.skaffold.events import DeployUp, DeployWatch, Ended, IterationFailed, parse_line

from .conftest import skaffold_yaml


def task(name, iteration, status):
    return {"timestamp": "2026-01-01T00:00:00Z",
            "taskEvent": {"id": f"{name}-{iteration}", "task": name, "iteration": iteration, "status": status}}


def test_the_real_event_log_of_a_failed_build_is_one_failed_iteration(project):
    project.write(skaffold_yaml(build="custom:\n  buildCommand: exit 3"))
    copy = project.root / "copy.yaml"
    copy.write_text(strip_download(project.config.read_text())[0])
    log = project.root / "events.json"
    subprocess.run([project.skaffold, "dev", "--filename", str(copy), "--rpc-http-port", "0",
                    "--event-log-file", str(log)], cwd=project.root, env=project.env, capture_output=True,
                   timeout=120)
    events = [parse_line(line) for line in (project.root / "events.json.v2").read_text().splitlines()]
    assert all(e is not None for e in events) and len(events) > 5
    watch = DeployWatch()
    moments = [m for e in events for m in watch.feed(e)]
    (failed,) = moments
    assert isinstance(failed, IterationFailed) and failed.iteration == 1
    assert failed.message.startswith("build [web] failed")


def test_each_succeeded_iteration_is_one_deploy_up_with_its_status_check():
    watch = DeployWatch()
    stream = [task("DevLoop", 1, "InProgress"), task("StatusCheck", 1, "Succeeded"), task("DevLoop", 1, "Succeeded"),
              task("DevLoop", 1, "Succeeded"), task("DevLoop", 2, "InProgress"), task("DevLoop", 2, "Succeeded")]
    moments = [m for e in stream for m in watch.feed(parse_line(json.dumps({"result": e})))]
    assert moments == [DeployUp(1, True), DeployUp(2, False)]


def test_the_end_and_lines_that_are_no_event():
    watch = DeployWatch()
    end = {"terminationEvent": {"status": "Failed", "err": {"message": "boom"}}}
    assert watch.feed(end) == [Ended("Failed", "boom")]
    assert parse_line(b"not json") is None and parse_line("[1]") is None
    assert watch.feed({"skaffoldLogEvent": {"message": "x"}}) == []
