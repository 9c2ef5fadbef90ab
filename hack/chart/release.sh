#!/usr/bin/env bash
# Packages the Helm chart for a release with the manager's image pinned by digest:
#   caseload-operator-<version>.tgz in DIST_DIR (bin/dist unless set), whose version and appVersion
#   are VERSION without its leading v and whose values.yaml sets image.digest to DIGEST, so an
#   install runs exactly the image the release built and signed, whatever later happens to a tag.
# Usage: hack/chart/release.sh VERSION DIGEST     (make chart-release VERSION=v0.1.0; DIGEST
#        defaults to the one `make image` wrote, IMAGE_DIR/digest)
# HELM names the helm binary (make passes bin/helm).
set -euo pipefail
version=${1:?usage: hack/chart/release.sh VERSION [DIGEST]}
root=$(cd "$(dirname "$0")/../.." && pwd)
image_dir=${IMAGE_DIR:-$root/bin/image}
digest=${2:-$(cat "$image_dir/digest" 2>/dev/null || true)}
dist=${DIST_DIR:-$root/bin/dist}
helm=${HELM:-helm}
if ! [[ $digest =~ ^sha256:[a-f0-9]{64}$ ]]; then
  echo "chart-release: no image digest (got \"$digest\"): run make image first, or pass the digest" >&2
  exit 1
fi
chart_version=${version#v}
mkdir -p "$dist"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$root/charts/caseload-operator" "$work/"
values=$work/caseload-operator/values.yaml
grep -q '^  digest: ""$' "$values" || { echo "chart-release: values.yaml has no image.digest line to pin" >&2; exit 1; }
sed -i "s|^  digest: \"\"$|  digest: \"$digest\"|" "$values"
echo "chart-release: packaging caseload-operator $chart_version with image.digest $digest"
"$helm" package "$work/caseload-operator" --version "$chart_version" --app-version "$chart_version" -d "$dist" >/dev/null
package=$dist/caseload-operator-$chart_version.tgz
# What a council installs with the defaults must run the pinned image.
repository=$(sed -n 's/^  repository: //p' "$values")
# Render to a file first: under pipefail, grep -q leaving early would kill helm with SIGPIPE and
# fail a correct chart.
"$helm" template caseload-operator "$package" >"$work/rendered.yaml"
if ! grep -q "image: \"$repository@$digest\"" "$work/rendered.yaml"; then
  echo "chart-release: $package does not run $repository@$digest with its defaults" >&2
  exit 1
fi
echo "chart-release: $package (image $repository@$digest)"
