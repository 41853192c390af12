"""bench/cluster_bench.py in its smallest configuration on the test node (kube_node.py), so the
benchmark cannot rot: every case runs through the real `kubectl exec`, and every copy it makes, of
ours and of kubectl's, is the tree or file that was put in the pod. It asserts what arrived, never
how fast.
"""

from __future__ import annotations

import argparse
import sys

import pytest

from kube_testbed import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import cluster_bench  # noqa: E402


def test_every_case_of_the_cluster_bench_brings_the_pods_files_intact(cluster, node, tmp_path):
    if node is None:
        pytest.skip("against a context's cluster the images need a registry (not done yet)")
    helper, app = cluster_bench.import_images(node, tmp_path / "images")
    # 9 MiB: above the data lane's threshold (8 MiB), so the large file takes the lane as 1 GiB does.
    args = argparse.Namespace(cases="exec,latency,tree,large", files=60, large_mb=9, writes=3, execs=2, runs=1,
                              where="tmpfs,disk", profile=False)
    (tmp_path / "work").mkdir()
    report = cluster_bench.run(cluster_bench.Bed(cluster, node), args, tmp_path / "work", helper, app)

    cases = report["cases"]
    assert len(cases["exec"]["exec_true"]) == len(cases["exec"]["app_connect"]) == 2
    assert len(cases["exec"]["empty_pull"]) == 2
    assert len(cases["latency"]["ours"]) == len(cases["latency"]["peer"]) == 3
    for case, tools in (("tree", ("pull", "kubectl cp", "exec tar")), ("large", ("pull", "kubectl cp"))):
        assert set(cases[case]["places"]) == {"tmpfs", "disk"}
        for where, rows in cases[case]["places"].items():
            for tool in tools:
                assert [r["intact"] for r in rows[tool]] == [True], (case, where, tool)
    assert cases["tree"]["files"] == 60
    lines, _ = cluster_bench.table(report)
    assert any(line.startswith("tree     tmpfs  pull") for line in lines)
