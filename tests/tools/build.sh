#!/usr/bin/env bash
# Builds the real tools the tests drive (skaffold, ...) from Go modules into the ignored .tools/bin,
# once: a tool already built from the same module files is skipped. Each tool has its own module
# under tests/tools/NAME (go.mod pins the release; tools.go names the command).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$PWD/.tools/bin
mkdir -p "$bin"
command -v go >/dev/null || { echo "tools: go is needed to build the test tools" >&2; exit 1; }

build() {  # NAME PACKAGE [LDFLAGS]
  local name=$1 pkg=$2 ldflags=${3:-} dir=tests/tools/$1
  local stamp="$bin/.$name.stamp" inputs
  inputs=$(cat "$dir/go.mod" "$dir/go.sum" "$dir/tools.go" | md5sum | cut -d' ' -f1)
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
    return
  fi
  echo "tools: building $name (once)"
  local start=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$name" "$pkg")
  echo "$inputs" > "$stamp"
  echo "tools: $name built in $((SECONDS - start)) s"
}

build skaffold github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold \
  "-X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=v2.16.1"
