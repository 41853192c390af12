#!/usr/bin/env bash
# Set up (see setup.sh), then run a live sync session against the embedded demo container.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/downstream-sync demo "$@"
