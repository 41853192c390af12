"""The injector reads a config as the sessions do (the planner's plan_rules): what the planner
refuses the injector refuses with the same reason, and what it accepts gives the same targets."""

import pytest

from downstream_sync.inject import InjectError, rules_from_project
from downstream_sync.planner import PlanError, SyncOptions, plan_rules

SKAFFOLD = """\
apiVersion: skaffold/v4beta9
kind: Config
build:
  artifacts:
  - image: app
    download:
      manual:
      - {remoteSrc: ./src/, localDst: %s}
      - {remoteSrc: /var/log/app, localDst: logs}
      excludes: ["*.tmp"]
  - image: other
profiles:
- name: none
  patches:
  - {op: remove, path: /build/artifacts/0/download}
"""


def test_a_config_only_the_rules_refuse_is_refused_by_the_injector_for_the_same_reason(tmp_path):
    """`./src/` and `src` name one container folder: the config's checks let it by, the rules do not."""
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD % "src")
    text = (tmp_path / "skaffold.yaml").read_text().replace(
        "      - {remoteSrc: /var/log/app, localDst: logs}", "      - {remoteSrc: src, localDst: other}")
    (tmp_path / "skaffold.yaml").write_text(text)
    with pytest.raises(PlanError) as planned:
        plan_rules(SyncOptions(tmp_path / "skaffold.yaml"))
    with pytest.raises(InjectError) as injected:
        rules_from_project(tmp_path / "skaffold.yaml")
    assert str(injected.value) == planned.value.with_details()
    assert "remoteSrc 'src' is already mapped to 'src'" in str(injected.value)


def test_the_injected_targets_are_the_sessions_targets(tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD % "src")
    _, chosen = plan_rules(SyncOptions(tmp_path / "skaffold.yaml"))
    (rules,) = rules_from_project(tmp_path / "skaffold.yaml")
    assert [a.image for a, _ in chosen] == [rules.artifact] == ["app"]
    assert list(rules.targets) == chosen[0][1].targets == ["src", "/var/log/app"]
    assert list(rules.excludes) == chosen[0][1].excludes == ["*.tmp"]


def test_a_profile_without_download_stanzas_is_refused_by_both(tmp_path):
    (tmp_path / "skaffold.yaml").write_text(SKAFFOLD % "src")
    with pytest.raises(PlanError) as planned:
        plan_rules(SyncOptions(tmp_path / "skaffold.yaml", profiles=("none",)))
    with pytest.raises(InjectError) as injected:
        rules_from_project(tmp_path / "skaffold.yaml", ("none",))
    assert str(injected.value) == planned.value.with_details()
    assert "no artifact" in str(injected.value) and "none" in str(injected.value)
