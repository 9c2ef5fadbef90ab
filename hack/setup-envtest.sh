#!/usr/bin/env bash
# Makes kube-apiserver, etcd and kubectl available to envtest and prints the directory that
# holds them (for KUBEBUILDER_ASSETS).
#
# The binaries live in setup-envtest's own store
# (${XDG_DATA_HOME:-~/.local/share}/kubebuilder-envtest/k8s/<version>-<os>-<arch>), so a machine
# that can download them and one that has to build them share one layout:
#   1. already in the store: print the path (takes well under a second);
#   2. setup-envtest can download them: let it;
#   3. otherwise build them from source through the Go module proxy: kube-apiserver from
#      k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3 (about 10 minutes on 2 cores with a
#      cold Go cache, about a minute warm).
# Progress goes to stderr; stdout carries only the path.
set -euo pipefail

K8S_VERSION=${ENVTEST_K8S_VERSION:-1.37.2}
ETCD_VERSION=${ENVTEST_ETCD_VERSION:-3.6.16}
SETUP_ENVTEST_VERSION=${SETUP_ENVTEST_VERSION:-v0.25.1}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${LOCALBIN:-$root/bin}
store=${ENVTEST_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}
goos=$(go env GOOS)
goarch=$(go env GOARCH)
dir=$store/k8s/$K8S_VERSION-$goos-$goarch

say() { echo "hack/setup-envtest: $*" >&2; }

complete() { [[ -x $dir/kube-apiserver && -x $dir/etcd && -x $dir/kubectl ]]; }

if complete; then
  echo "$dir"
  exit 0
fi

mkdir -p "$bin"
if [[ ! -x $bin/setup-envtest ]]; then
  say "installing setup-envtest $SETUP_ENVTEST_VERSION into $bin"
  GOBIN=$bin go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION"
fi

say "asking setup-envtest for Kubernetes $K8S_VERSION"
if path=$(timeout 120 "$bin/setup-envtest" use "$K8S_VERSION" --bin-dir "$store" -p path 2>/dev/null) \
  && [[ -x $path/kube-apiserver && -x $path/etcd ]]; then
  echo "$path"
  exit 0
fi

say "no download possible here: building from source through the Go module proxy"
say "(about 10 minutes on 2 cores with a cold Go build cache, about a minute warm)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
staging_version=v0.${K8S_VERSION#*.}
mkdir -p "$dir.partial"

build_apiserver() {
  local mod=$work/kube-apiserver
  mkdir -p "$mod"
  cd "$mod"
  go mod init caseload.dev/envtest/kube-apiserver >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local
  # directories; outside its repository each must point at the published v0.<minor>.<patch>.
  local m
  for m in $(awk '/^require \(/,/^\)/' "$gomod" | awk '$2 == "v0.0.0" && $1 ~ /^k8s.io\// {print $1}'); do
    go mod edit -replace "$m=$m@$staging_version"
  done
  go mod edit -require "k8s.io/kubernetes@v$K8S_VERSION"
  say "kube-apiserver v$K8S_VERSION: resolving modules"
  GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION" >&2
  local minor=${K8S_VERSION#*.}
  minor=${minor%%.*}
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  say "kube-apiserver v$K8S_VERSION: compiling"
  GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dir.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  say "kubectl v$K8S_VERSION: compiling"
  GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$dir.partial/kubectl" k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local mod=$work/etcd
  mkdir -p "$mod"
  cd "$mod"
  go mod init caseload.dev/envtest/etcd >/dev/null 2>&1
  local m
  for m in go.etcd.io/etcd/api/v3 go.etcd.io/etcd/client/pkg/v3 go.etcd.io/etcd/client/v3 go.etcd.io/etcd/pkg/v3; do
    go mod edit -replace "$m=$m@v$ETCD_VERSION"
  done
  go mod edit -require "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  say "etcd v$ETCD_VERSION: resolving modules"
  GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
  say "etcd v$ETCD_VERSION: compiling"
  GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$dir.partial/etcd" go.etcd.io/etcd/server/v3
}

start=$SECONDS
build_etcd
build_apiserver
rm -rf "$dir"
mv "$dir.partial" "$dir"
say "built in $((SECONDS - start))s into $dir"
complete
echo "$dir"
