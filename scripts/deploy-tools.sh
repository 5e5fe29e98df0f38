#!/usr/bin/env bash
# deploy-tools.sh builds the pinned deployment tools from tools/* into bin/ for the
# checks in deploy/check: helm (chart lint and render), kube-score (manifest
# review) and skaffold (skaffold.yaml render). Like tools.sh it skips a binary built
# after the last change to its pinning go.mod/go.sum.
# Usage: scripts/deploy-tools.sh [helm|kube-score|skaffold ...]   (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/bin"

build() { # build <name> <tools module dir> <package>
	local name=$1 dir=$2 pkg=$3 out="$root/bin/$1"
	if [ -x "$out" ] && [ "$out" -nt "$root/tools/$dir/go.mod" ] && [ "$out" -nt "$root/tools/$dir/go.sum" ]; then
		return
	fi
	echo "deploy-tools.sh: building $name (pinned in tools/$dir)" >&2
	GOWORK=off go build -C "$root/tools/$dir" -trimpath -ldflags "-s -w" -o "$out.tmp" "$pkg"
	mv "$out.tmp" "$out"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(helm kube-score skaffold)
for t in "${targets[@]}"; do
	case "$t" in
	helm) build helm helm helm.sh/helm/v3/cmd/helm ;;
	kube-score) build kube-score kubescore github.com/zegl/kube-score/cmd/kube-score ;;
	skaffold) build skaffold skaffold github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold ;;
	*) echo "deploy-tools.sh: unknown tool $t" >&2; exit 2 ;;
	esac
done
