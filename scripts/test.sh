#!/usr/bin/env bash
# Set up (see setup.sh), then run the whole test suite: pytest, then the VS Code extension's tests
# (scripts/test-extension.sh). Extra arguments go to pytest alone.
set -euo pipefail
cd "$(dirname "$0")/.."
DS_APT_PACKAGES="${DS_APT_PACKAGES:-neovim docker-registry docker.io apache2-utils openssl binutils python3-venv python3-dev busybox-static runc umoci chromium build-essential libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev fuse3 bindfs dosfstools fusefat exfatprogs exfat-fuse}" bash scripts/setup.sh
if [ $# -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
status=0
.venv/bin/python -m pytest || status=$?
bash scripts/test-extension.sh || status=$?
exit $status
