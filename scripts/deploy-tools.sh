#!/usr/bin/env bash
# deploy-tools.sh builds the pinned deployment tools from tools/* into bin/ for the
# checks in deploy/check: helm (chart lint and render), kube-score (manifest
# review) and skaffold (skaffold.yaml render). Like tools.sh it skips a binary built
# after the last change to its pinning go.mod/go.sum.
# Usage: scripts/deploy-tools.sh [helm|kube-score|skaffold ...]   (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/bin"

build() { # build <name> <tools module dir> <package> [extra -ldflags]
	local name=$1 dir=$2 pkg=$3 ldflags="-s -w ${4:-}" out="$root/bin/$1"
	if [ -x "$out" ] && [ "$out" -nt "$root/tools/$dir/go.mod" ] && [ "$out" -nt "$root/tools/$dir/go.sum" ]; then
		return
	fi
	echo "deploy-tools.sh: building $name (pinned in tools/$dir)" >&2
	GOWORK=off go build -C "$root/tools/$dir" -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg"
	mv "$out.tmp" "$out"
}

# helm_ldflags stamps what helm's own Makefile does: its version, and as the
# default Kubernetes version for `helm template` and `helm lint` the one of the
# client-go it is built with (otherwise 1.20, which the chart's kubeVersion refuses).
helm_ldflags() {
	local mod="$root/tools/helm" helm k8s minor
	helm=$(GOWORK=off go list -C "$mod" -m -f '{{.Version}}' helm.sh/helm/v3)
	k8s=$(GOWORK=off go list -C "$mod" -m -f '{{.Version}}' k8s.io/client-go) # v0.N.x ↔ Kubernetes 1.N
	minor=$(echo "$k8s" | cut -d. -f2)
	echo "-X helm.sh/helm/v3/internal/version.version=$helm" \
		"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
		"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(helm kube-score skaffold)
for t in "${targets[@]}"; do
	case "$t" in
	helm) build helm helm helm.sh/helm/v3/cmd/helm "$(helm_ldflags)" ;;
	kube-score) build kube-score kubescore github.com/zegl/kube-score/cmd/kube-score ;;
	skaffold) build skaffold skaffold github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold ;;
	*) echo "deploy-tools.sh: unknown tool $t" >&2; exit 2 ;;
	esac
done
