"""`downstream-sync validate`, and broken skaffold.yaml files given to start and pull, through
the real console script."""

import re

from clitools import SKAFFOLD, run

DIAGNOSTIC = re.compile(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning|information|info|hint): "
                        r"(?P<code>[\w.-]+): (?P<message>.+)$")

BROKEN = """\
apiVersion: skaffold/v4beta11
kind: Config
build:
  artifacts:
  - image: web
    download:
      manual:
      - remoteSrc: out
      excludes:
      - "**/*.log"
"""


def test_a_good_file_is_ok(project):
    result = run("validate", str(project / "skaffold.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    *notes, last = result.stdout.strip().splitlines()
    assert last.startswith(f"{project / 'skaffold.yaml'}: ok")
    assert all(DIAGNOSTIC.match(n) and DIAGNOSTIC.match(n)["severity"] != "error" for n in notes), notes


def test_problems_are_printed_as_file_line_col_and_exit_1(project):
    path = project / "skaffold.yaml"
    path.write_text(BROKEN)
    result = run("validate", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines, result.stderr
    errors = [m for m in map(DIAGNOSTIC.match, lines) if m and m["severity"] == "error"]
    assert all(DIAGNOSTIC.match(line) for line in lines), lines
    assert errors and errors[0]["file"].endswith("skaffold.yaml")
    # the mapping without localDst is on line 8 (1-based)
    assert any(int(m["line"]) == 8 and "localDst" in m["message"] for m in errors), lines
    assert "Traceback" not in result.stderr


def test_validate_takes_dash_f_like_the_other_commands(project):
    path = project / "skaffold.yaml"
    path.write_text(BROKEN)
    by_flag = run("validate", "-f", str(path))
    assert by_flag.returncode == 1 and by_flag.stdout == run("validate", str(path)).stdout
    both = run("validate", str(path), "-f", str(project / "other.yaml"))
    assert both.returncode == 2 and "name one" in both.stderr


def test_pull_help_lists_its_exit_codes():
    text = run("pull", "--help").stdout
    for code in ("0 ", "1 ", "2 ", "130"):
        assert f"  {code}" in text, text


def test_a_missing_file_is_one_line(tmp_path):
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert result.stderr == f"downstream-sync: error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_start_and_pull_print_the_diagnostics_and_exit_2(project):
    path = project / "skaffold.yaml"
    path.write_text(BROKEN)
    for command in ("start", "pull"):
        result = run(command, "-f", str(path), "--connect-command", "cat")
        assert result.returncode == 2, result.stdout + result.stderr
        *diagnostics, last = result.stderr.strip().splitlines()
        assert diagnostics and all(DIAGNOSTIC.match(line) for line in diagnostics), result.stderr
        assert last.startswith("downstream-sync: error: ") and "and try again" in last


def test_an_unknown_artifact_is_named(project):
    result = run("pull", "-f", str(project / "skaffold.yaml"), "--artifact", "api", "--connect-command", "cat")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"downstream-sync: error: no artifact 'api' in {project / 'skaffold.yaml'} "
                                     "(artifacts: web)")


def test_no_download_stanza(project):
    (project / "skaffold.yaml").write_text(SKAFFOLD.split("    download:")[0])
    result = run("pull", "-f", str(project / "skaffold.yaml"), "--connect-command", "cat")
    assert result.returncode == 2
    assert "has a download stanza to sync" in result.stderr
