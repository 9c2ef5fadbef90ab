#!/usr/bin/env bash
# Builds the release archives of `kubectl caseload` and its krew manifest into bin/dist:
#   kubectl-caseload_<version>_<os>_<arch>.tar.gz, holding kubectl-caseload (kubectl-caseload.exe
#   on Windows) at the top level, as the manifest's `bin` names it;
#   caseload.yaml, hack/krew/caseload.yaml with the version, the archives' address and sha256s.
# Usage: hack/krew/release.sh VERSION [URI_BASE]     (DIST_DIR, bin/dist unless set, is where they go)
# PLUGIN_PLATFORMS, when set, builds only those (os/arch, space-separated): the release workflow's
# test builds two, as cross-compiling all five from a cold build cache takes longer than the rest
# of the tests; the manifest then still names the others, without their sha256s.
set -euo pipefail
version=${1:?usage: hack/krew/release.sh VERSION [URI_BASE]}
base=${2:-https://caseload.dev/releases/$version}
root=$(cd "$(dirname "$0")/../.." && pwd)
dist=${DIST_DIR:-$root/bin/dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
manifest=$(sed -e "s|URI_BASE|$base|g" -e "s|VERSION|$version|g" "$root/hack/krew/caseload.yaml" | grep -v '^#')
platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
for platform in ${PLUGIN_PLATFORMS:-$platforms}; do
  os=${platform%/*} arch=${platform#*/}
  bin=kubectl-caseload
  [ "$os" = windows ] && bin=kubectl-caseload.exe
  work=$(mktemp -d)
  echo "release: building $bin for $os/$arch"
  (cd "$root" && CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X caseload.dev/caseload-operator/internal/plugin/version.Version=$version" -o "$work/$bin" ./cmd/kubectl-caseload)
  archive=kubectl-caseload_${version}_${os}_${arch}.tar.gz
  tar -C "$work" -czf "$dist/$archive" "$bin"
  rm -rf "$work"
  sum=$(sha256sum "$dist/$archive" | cut -d' ' -f1)
  manifest=${manifest//SHA256_${os}_${arch}/$sum}
done
printf '%s\n' "$manifest" > "$dist/caseload.yaml"
echo "release: archives and krew manifest in $dist"
