#!/usr/bin/env bash
# Builds the operator's container image with buildah, with no Docker engine and no network:
# FROM scratch (hack/image/Containerfile), one image per platform and an OCI index over them.
#
# Usage: hack/image/build.sh [VERSION]        (make image VERSION=v0.1.0)
#
# Writes into IMAGE_DIR (bin/image unless set):
#   manager-linux-amd64, manager-linux-arm64   the static, stripped manager binaries
#   caseload-operator.tar    an OCI archive holding the index, tagged VERSION; copy it to a
#                            registry with `skopeo copy --all --preserve-digests oci-archive:...`
#   digest                   the index's digest (sha256:...), what a deployment pins
#   sbom.spdx.json           the SPDX 2.3 bill of materials (hack/sbom)
#
# Reproducible: the same commit, built with the same Go toolchain and buildah, gives the same
# digest. The binaries are built with -trimpath and without VCS stamping; every file staged for
# the image has a fixed mode, owner and time; buildah --timestamp sets the image's creation
# time and its files' times to SOURCE_DATE_EPOCH (the commit's time unless set), and the
# identity label (buildah's version) is left out. `make image-reproducible` builds twice and
# compares. Buildah keeps its storage (vfs, which needs no kernel overlay support) inside
# IMAGE_DIR and removes it afterwards, so nothing outside IMAGE_DIR is touched.
set -euo pipefail
version=${1:-${VERSION:-v0.0.0-dev}}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${IMAGE_DIR:-$root/bin/image}
mkdir -p "$out"
out=$(cd "$out" && pwd)
arches=${IMAGE_ARCHES:-amd64 arm64}
name=caseload-operator
repository=${IMAGE_REPOSITORY:-ghcr.io/caseload-dev/caseload-operator}
source=${IMAGE_SOURCE:-https://github.com/caseload-dev/caseload-operator}
# The operator's licence: every source file's header (hack/boilerplate.go.txt) says Apache 2.0.
license=Apache-2.0

command -v buildah >/dev/null || { echo "image: buildah is not installed (Debian: apt-get install buildah)" >&2; exit 1; }
cd "$root"
# IMAGE_REVISION and SOURCE_DATE_EPOCH, when set, say which commit the tree is and when it was made.
revision=${IMAGE_REVISION:-$(git rev-parse HEAD)}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "image: the working tree differs from $revision: the image holds the tree as it is, labelled with that commit"
fi

store=$out/storage
context=$out/context
remove_store() {
  [ -d "$store" ] || return 0
  if [ "$(id -u)" -eq 0 ]; then rm -rf "$store"; else buildah unshare rm -rf "$store"; fi
}
remove_store
rm -rf "$context" "$out/caseload-operator.tar" "$out/digest" "$out/sbom.spdx.json"
trap 'remove_store; rm -rf "$context"' EXIT
b() { buildah --root "$store/root" --runroot "$store/run" --storage-driver vfs "$@"; }

bins=()
for arch in $arches; do
  bin=$out/manager-linux-$arch
  echo "image: building the manager for linux/$arch (static, stripped, -trimpath)"
  # GOAMD64/GOARM64 at their baselines and GOFLAGS empty: a developer's environment must not
  # change the binary.
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOAMD64=v1 GOARM64=v8.0 GOFLAGS= \
    go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' -o "$bin" ./cmd/manager
  bins+=("$bin")
  rootfs=$context/rootfs-$arch
  mkdir -p "$rootfs/etc"
  cp "$bin" "$rootfs/manager"
  # The user the image runs as, for tools that look names up; the manager needs neither file.
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$rootfs/etc/group"
  chmod 0755 "$rootfs" "$rootfs/etc" "$rootfs/manager"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
  find "$rootfs" -exec touch -h -d "@$epoch" {} +
done
cp hack/image/Containerfile "$context/Containerfile"

list=localhost/$name:$version
b manifest create "$list" >/dev/null
for arch in $arches; do
  echo "image: buildah build FROM scratch for linux/$arch"
  b build --quiet --isolation chroot --platform "linux/$arch" --pull=false --layers=false \
    --timestamp "$epoch" --identity-label=false \
    --label org.opencontainers.image.title=$name \
    --label "org.opencontainers.image.description=Weighted caseload caps for social-work teams, enforced by Kubernetes: the operator's manager and admission webhook" \
    --label "org.opencontainers.image.source=$source" \
    --label "org.opencontainers.image.url=$source" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.created=$created" \
    --label "org.opencontainers.image.licenses=$license" \
    --manifest "$list" -f "$context/Containerfile" "$context" >/dev/null
done
echo "image: writing the OCI archive"
b manifest push --quiet --all --format oci --digestfile "$out/digest" "$list" "oci-archive:$out/$name.tar:$version"
digest=$(cat "$out/digest")

echo "image: writing the SPDX bill of materials"
go run ./hack/sbom -name "$name" -repository "$repository" -source "$source" -license "$license" \
  -version "$version" -revision "$revision" -created "$epoch" -image-digest "$digest" \
  -out "$out/sbom.spdx.json" "${bins[@]}"

echo "image: $name $version for $(echo "$arches" | sed 's/\([a-z0-9]*\)/linux\/\1/g') in $out/$name.tar"
echo "image: digest $digest (written to $out/digest); SBOM $out/sbom.spdx.json"
