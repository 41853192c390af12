#!/usr/bin/env bash
# Set up everything on a fresh machine: system packages (when root), a virtualenv in .venv with
# both packages installed editable, and the test tools. Safe to run again; fast when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(${DS_APT_PACKAGES:-})
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages: ${missing[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
inputs=$(cat helper/pyproject.toml server/pyproject.toml requirements-dev.txt | md5sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$inputs" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e helper -e server -r requirements-dev.txt
  echo "$inputs" > "$stamp"
fi

# The standalone helper binaries (helper/build.sh), once, into the ignored .cache/binaries; a no-op when built.
if [ "$(uname -s)" = Linux ] && [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
  bash helper/build.sh
fi

# The real tools the tests drive (skaffold, kustomize, helm) and the end-to-end tests' Kubernetes (etcd,
# kube-apiserver, kubectl, kubelet, containerd), from Go modules, once, into the ignored .tools; a no-op when built.
if command -v go >/dev/null || [ "${CI:-}" = true ]; then
  bash tests/tools/build.sh
  bash tests/cluster/build.sh
else
  echo "setup: go is not installed: the tests that drive skaffold, kustomize, helm and a cluster will skip (and fail in CI)" >&2
fi
