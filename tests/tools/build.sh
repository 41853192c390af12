#!/usr/bin/env bash
# Builds the real tools the tests drive (skaffold, kustomize, helm) from Go modules into the ignored .tools/bin,
# once: a tool already built from the same module files and flags is skipped. Each tool has its own module
# under tests/tools/NAME (go.mod pins the release; tools.go names the command).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$PWD/.tools/bin
mkdir -p "$bin"
command -v go >/dev/null || { echo "tools: go is needed to build the test tools" >&2; exit 1; }

build() {  # NAME PACKAGE [LDFLAGS]
  local name=$1 pkg=$2 ldflags=${3:-} dir=tests/tools/$1
  local stamp="$bin/.$name.stamp" inputs
  inputs=$( (cat "$dir/go.mod" "$dir/go.sum" "$dir/tools.go"; echo "$pkg $ldflags") | md5sum | cut -d' ' -f1)
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
build kustomize sigs.k8s.io/kustomize/kustomize/v5 \
  "-X sigs.k8s.io/kustomize/api/provenance.version=kustomize/v5.8.2"
# helm's Makefile sets its version and the Kubernetes version it lints for (client-go v0.37 = 1.37).
build helm helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=v3.22.0 -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"
