#!/usr/bin/env bash
# Build the helper image (FROM scratch: just app-server and app-connect) as an OCI image layout,
# without a container daemon, from the binaries of helper/build.sh, with umoci (Debian's `umoci`).
#
#   bash helper/image.sh [LAYOUT]   # default LAYOUT: .cache/binaries/image-linux-<arch>; a no-op when built
#
# The image's default command, `/app-server --install /sync-helper`, is the init container's job:
# it copies both binaries into the volume mounted at /sync-helper (no `cp`, no shell in the image).
# TMPDIR is that volume too, so a read-only root file system does not stop it. Load the layout with
# `skopeo copy oci:LAYOUT:TAG docker-daemon:downstream-sync-helper:TAG` or any OCI-aware tool.
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) echo "image: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
bin=.cache/binaries/linux-$arch
layout=$(realpath -m "${1:-.cache/binaries/image-linux-$arch}")
bash helper/build.sh "$bin"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' helper/pyproject.toml)
tag=$version
sources=$(cat helper/image.sh "$bin/.sources" | md5sum | cut -d' ' -f1)
if [ -f "$layout/index.json" ] && [ "$(cat "$layout.sources" 2>/dev/null)" = "$sources" ]; then
  exit 0
fi
command -v umoci >/dev/null || { echo "image: umoci is missing (apt-get install umoci)" >&2; exit 1; }
echo "image: building downstream-sync-helper:$tag (linux/$arch) into $layout" >&2
rm -rf "$layout" "$layout.sources"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/sync-helper"
install -m 0755 "$bin/app-server" "$bin/app-connect" "$stage/"

umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci insert --image "$layout:$tag" --history.created_by "helper/image.sh" "$stage" /
umoci config --image "$layout:$tag" --history.created_by "helper/image.sh" --os linux --architecture "$arch" \
  --config.entrypoint /app-server --config.cmd --install --config.cmd /sync-helper \
  --config.env TMPDIR=/sync-helper --config.volume /sync-helper \
  --config.label org.opencontainers.image.title=downstream-sync-helper \
  --config.label org.opencontainers.image.version="$version"
echo "$sources" > "$layout.sources"
echo "image: $layout:$tag" >&2
