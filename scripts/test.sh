#!/usr/bin/env bash
# Set up (see setup.sh), then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
DS_APT_PACKAGES="${DS_APT_PACKAGES:-neovim docker-registry apache2-utils openssl binutils python3-venv python3-dev busybox-static runc umoci}" bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
