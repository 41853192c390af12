"""config/ is core: importing and using it pulls in no language-server or terminal code."""

from __future__ import annotations

import subprocess
import sys


def test_config_imports_no_face(tmp_path):
    (tmp_path / "skaffold.yaml").write_text("apiVersion: skaffold/v4beta14\nkind: Config\n")
    code = (
        "import sys\n"
        "from downstream_sync.config import load_project, check_file, validate\n"
        f"load_project({str(tmp_path)!r}); validate({str(tmp_path)!r})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol', 'grpc', 'kubernetes')"
        " or m.startswith(('downstream_sync.lsp', 'downstream_sync.cli', 'downstream_sync.terminal', 'downstream_sync.sync')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
