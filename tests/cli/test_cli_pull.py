"""`downstream-sync pull` end to end: the real console script, a real app-server, real
app-connect as the --connect-command, real gRPC over its stdio."""

import os
import shutil
import subprocess

from clitools import BIN, CLI, run


def pull(project, helper, *extra):
    return run("pull", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command, *extra)


def test_pull_brings_the_tree_and_knows_the_rules(project, helper):
    result = pull(project, helper)
    assert result.returncode == 0, result.stdout + result.stderr
    local = project / "local" / "out"
    assert (local / "a.txt").read_text() == "alpha\n"
    assert (local / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 40
    assert os.access(local / "sub" / "run.sh", os.X_OK)
    assert not (local / "debug.log").exists()  # excluded
    out = result.stdout
    for path in ("local/out/a.txt", "local/out/sub/b.bin", "local/out/sub/run.sh"):
        assert any(path in line and "created" in line for line in out.splitlines()), out
    assert "debug.log" not in out
    assert out.strip().splitlines()[-1].startswith("in sync: 3 changes synced (")

    again = pull(project, helper)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created" not in again.stdout and "updated" not in again.stdout
    assert again.stdout.strip().splitlines()[-1].startswith("in sync: 0 changes synced")


def test_a_local_edit_is_a_conflict_and_exit_1(project, helper):
    assert pull(project, helper).returncode == 0
    mine = project / "local" / "out" / "a.txt"
    mine.write_text("my own edit\n")
    (helper.container / "out" / "a.txt").write_text("the container's new version\n")

    result = pull(project, helper)
    assert result.returncode == 1, result.stdout + result.stderr
    assert mine.read_text() == "my own edit\n"  # never lost
    assert any("conflict" in line and "local/out/a.txt" in line for line in result.stdout.splitlines()), result.stdout
    assert "NOT in sync" in result.stdout and "1 conflict" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("Conflicts to look at: local/out/a.txt; ")

    # remote-wins takes the container's version, keeps the local one beside it, and still says so
    (helper.container / "out" / "a.txt").write_text("the container's newer version\n")
    forced = pull(project, helper, "--policy", "remote-wins")
    assert mine.read_text() == "the container's newer version\n"
    assert [p.name for p in mine.parent.iterdir() if p.name.startswith("a.txt.")], list(mine.parent.iterdir())
    assert forced.returncode == 1 and "conflict" in forced.stdout, forced.stdout + forced.stderr

    settled = pull(project, helper)
    assert settled.returncode == 0, settled.stdout + settled.stderr


def test_a_folder_it_cannot_write_is_one_clear_error_per_file(project, helper, bound_by_permissions):
    prefix = bound_by_permissions
    local = project / "local"
    local.mkdir()
    local.chmod(0o555)
    try:
        result = subprocess.run(
            [*prefix, CLI, "pull", "-f", str(project / "skaffold.yaml"), "--connect-command", helper.connect_command],
            capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=60)
    finally:
        local.chmod(0o755)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if " error " in line]
    assert errors and all("permission denied" in line.lower() for line in errors), result.stdout
    assert "NOT in sync" in result.stdout
    assert not (local / "out").exists()


TWO_ARTIFACTS = """\
apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - {remoteSrc: out, localDst: web/out}
  - image: api
    download:
      manual:
      - {remoteSrc: gen, localDst: api/gen}
"""


def test_one_connect_command_serves_every_artifact_through_image(project, tmp_path, start_helper):
    (project / "skaffold.yaml").write_text(TWO_ARTIFACTS)
    for image, folder in (("web", "out"), ("api", "gen")):
        container = tmp_path / f"container-{image}"
        (container / folder).mkdir(parents=True)
        (container / folder / f"{image}.txt").write_text(f"from {image}\n")
        start_helper(container, name=image, targets=folder)
    command = f"{BIN / 'app-connect'} --socket {start_helper.runtime}/{{image}}.sock"

    result = run("pull", "-f", str(project / "skaffold.yaml"), "--connect-command", command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "web" / "out" / "web.txt").read_text() == "from web\n"
    assert (project / "api" / "gen" / "api.txt").read_text() == "from api\n"
    assert any(line.startswith("web: in sync") for line in result.stdout.splitlines()), result.stdout
    assert any("[api] created" in line and "api/gen/api.txt" in line for line in result.stdout.splitlines())

    only_api = run("pull", "-f", str(project / "skaffold.yaml"), "--connect-command", command, "--artifact", "api")
    assert only_api.returncode == 0 and "[web]" not in only_api.stdout and "web:" not in only_api.stdout


def test_a_large_first_sync_names_twenty_files_then_counts(project, helper):
    """A first sync of a big tree (a node_modules) is not a flood of lines; -v names every file."""
    for i in range(30):
        (helper.container / "out" / "many" / f"f{i:02}.js").parent.mkdir(exist_ok=True)
        (helper.container / "out" / "many" / f"f{i:02}.js").write_text(f"{i}\n")
    result = pull(project, helper)
    assert result.returncode == 0, result.stdout + result.stderr
    named = [line for line in result.stdout.splitlines() if "created" in line and "local/out/many/" in line]
    assert 0 < len(named) <= 20 and "more files synced (-v names each)" in result.stdout, result.stdout
    assert len(list((project / "local" / "out" / "many").iterdir())) == 30
    shutil.rmtree(project / "local")  # a fresh start: no tree, no record of what was written
    shutil.rmtree(project / ".downstream-sync")
    verbose = pull(project, helper, "-v")
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    assert sum("created" in line and "local/out/many/" in line for line in verbose.stdout.splitlines()) == 30
    assert "more files synced" not in verbose.stdout
