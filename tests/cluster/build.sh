#!/usr/bin/env bash
# Builds the real Kubernetes test bed from Go modules into the ignored .tools/cluster/bin, once:
# a binary already built from the same module files is skipped.
#
#   bash tests/cluster/build.sh [NAME...]   # default: all; names as in the list at the bottom
#   bash tests/cluster/build.sh --pin       # rewrite the modules' go.mod/go.sum for the versions below
#
# Each group has its own module under tests/cluster/GROUP (go.mod pins the release; tools.go names
# the commands, tools_controllers.go the control plane's controllers: a file of their own, so that
# adding them left the other binaries' stamps as they were). k8s.io/kubernetes requires its staging modules (k8s.io/api, ...) at v0.0.0 with
# replace lines into ./staging, which apply only to its own main module: --pin derives that list
# from k8s.io/kubernetes's go.mod and pins each to the matching v0.X.Y release.
set -euo pipefail
cd "$(dirname "$0")/../.."
K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.7.3
CONTAINERD_VERSION=v2.4.2
bin=$PWD/.tools/cluster/bin
command -v go >/dev/null || { echo "cluster: go is needed to build the test cluster" >&2; exit 1; }

module() {  # DIR MODULE-PATH REQUIRE...: a fresh go.mod requiring the releases, then tidy
  local dir=tests/cluster/$1 path=$2
  shift 2
  printf '// The test cluster'"'"'s %s, built by tests/cluster/build.sh; written by its --pin.\nmodule %s\n\ngo 1.26\n' \
    "${dir##*/}" "$path" > "$dir/go.mod"
  rm -f "$dir/go.sum"
  local req
  for req in "$@"; do (cd "$dir" && go mod edit -require "$req"); done
}

pin() {
  module k8s downstream-sync.dev/tests/cluster/k8s "k8s.io/kubernetes@$K8S_VERSION"
  local gomod staging
  gomod=$(cd tests/cluster/k8s && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
    | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
  staging=$(sed -n 's#^\s*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$gomod")
  [ -n "$staging" ] || { echo "cluster: no staging replace lines in $gomod" >&2; exit 1; }
  local m
  for m in $staging; do (cd tests/cluster/k8s && go mod edit -replace "$m=$m@$STAGING_VERSION"); done
  module etcd downstream-sync.dev/tests/cluster/etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  module containerd downstream-sync.dev/tests/cluster/containerd "github.com/containerd/containerd/v2@$CONTAINERD_VERSION"
  local dir
  for dir in k8s etcd containerd; do (cd "tests/cluster/$dir" && go mod tidy); done
  echo "cluster: pinned $(wc -w <<<"$staging") staging modules to $STAGING_VERSION"
}

build() {  # NAME GROUP PACKAGE [LDFLAGS]
  local name=$1 dir=tests/cluster/$2 pkg=$3 ldflags=${4:-}
  local stamp="$bin/.$name.stamp" inputs
  inputs=$(cat "$dir/go.mod" "$dir/go.sum" "$dir/tools.go" <(echo "$ldflags") | md5sum | cut -d' ' -f1)
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
    return
  fi
  echo "cluster: building $name (once)"
  local start=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$name" "$pkg")
  echo "$inputs" > "$stamp"
  echo "cluster: $name built in $((SECONDS - start)) s"
}

if [ "${1:-}" = --pin ]; then
  pin
  exit 0
fi
mkdir -p "$bin"
k8s_version=k8s.io/component-base/version
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
k8s_ldflags="-X $k8s_version.gitVersion=$K8S_VERSION -X $k8s_version.gitMajor=1 -X $k8s_version.gitMinor=$minor"
k8s_ldflags+=" -X $k8s_version.gitTreeState=clean"
containerd_ldflags="-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
wanted=" ${*:-etcd kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler containerd containerd-shim-runc-v2 ctr} "
want() { [[ $wanted == *" $1 "* ]]; }
want etcd && build etcd etcd go.etcd.io/etcd/server/v3
want kube-apiserver && build kube-apiserver k8s k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
want kubectl && build kubectl k8s k8s.io/kubernetes/cmd/kubectl "$k8s_ldflags"
want kubelet && build kubelet k8s k8s.io/kubernetes/cmd/kubelet "$k8s_ldflags"
want kube-controller-manager && build kube-controller-manager k8s k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
want kube-scheduler && build kube-scheduler k8s k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
want containerd && build containerd containerd github.com/containerd/containerd/v2/cmd/containerd "$containerd_ldflags"
want containerd-shim-runc-v2 && build containerd-shim-runc-v2 containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 "$containerd_ldflags"
want ctr && build ctr containerd github.com/containerd/containerd/v2/cmd/ctr "$containerd_ldflags"
exit 0
