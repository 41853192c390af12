"""`downstream-sync demo`: the embedded container (a real app-server wrapping the generator)
syncs into a temporary project, then stops by itself."""

import os
import re
import shutil
import subprocess

from clitools import CLI, run


def test_demo_runs_a_few_seconds_and_syncs_files(tmp_path):
    result = run("demo", "--seconds", "3", env={"TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    found = re.search(r"^The synced files are in (\S+) \((\d+) files?\)", result.stdout, re.M)
    assert found, result.stdout
    synced = found[1]
    try:
        assert synced.startswith(str(tmp_path))
        assert int(found[2]) >= 2
        assert any("created" in line and "synced/generated/" in line for line in result.stdout.splitlines())
        assert re.search(r"^Stopped\. \d+ changes? synced", result.stdout, re.M), result.stdout
        assert "index.json" in result.stdout
        assert ".tmp" not in result.stdout  # the demo's rules exclude the generator's temporary files
    finally:
        shutil.rmtree(synced.rsplit("/synced", 1)[0], ignore_errors=True)


def test_a_reader_that_goes_away_does_not_break_the_run(tmp_path):
    """`downstream-sync demo | head -1`: the rest of the output goes nowhere, the run ends as usual."""
    proc = subprocess.Popen([CLI, "demo", "--seconds", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1", "TMPDIR": str(tmp_path)})
    first = proc.stdout.readline().decode()
    proc.stdout.close()
    assert proc.wait(60) == 0
    stderr = proc.stderr.read().decode()
    assert first.startswith("Demo project: ") and "Traceback" not in stderr and "Broken pipe" not in stderr, stderr
    assert list(tmp_path.glob("downstream-sync-demo-*/synced/generated/*"))  # it went on syncing


def test_a_negative_duration_is_refused_not_taken_as_forever():
    result = run("demo", "--seconds", "-5")
    assert result.returncode == 2 and "give 0 or more seconds" in result.stderr
    result = run("pull", "--pod-timeout", "soon")
    assert result.returncode == 2 and "'soon' is not a number of seconds" in result.stderr
