"""skaffold/ is core: importing it pulls in no language-server, terminal or CLI code."""

from __future__ import annotations

import subprocess
import sys


def test_the_wrapper_core_imports_no_face():
    code = (
        "import sys\n"
        "import downstream_sync.skaffold.run, downstream_sync.skaffold.shims, downstream_sync.config.strip\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol')"
        " or m.startswith(('downstream_sync.lsp', 'downstream_sync.cli', 'downstream_sync.terminal')))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
