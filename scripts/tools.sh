#!/usr/bin/env bash
# tools.sh builds the pinned servers from tools/* into bin/ (cached by the Go build
# cache: the first Vault build takes about 6 minutes on two cores, later ones seconds).
# Usage: scripts/tools.sh [nats-server|caddy|vault ...]   (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/bin"

build() { # build <name> <tools module dir> <package>
	local name=$1 dir=$2 pkg=$3 out="$root/bin/$1"
	# Up to date when built after the last change to the pinning go.mod/go.sum.
	if [ -x "$out" ] && [ "$out" -nt "$root/tools/$dir/go.mod" ] && [ "$out" -nt "$root/tools/$dir/go.sum" ]; then
		return
	fi
	echo "tools.sh: building $name (pinned in tools/$dir)" >&2
	GOWORK=off go build -C "$root/tools/$dir" -trimpath -ldflags "-s -w" -o "$out.tmp" "$pkg"
	mv "$out.tmp" "$out"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(nats-server caddy vault)
for t in "${targets[@]}"; do
	case "$t" in
	nats-server) build nats-server nats github.com/nats-io/nats-server/v2 ;;
	caddy) build caddy caddy github.com/caddyserver/caddy/v2/cmd/caddy ;;
	vault) build vault vault github.com/hashicorp/vault ;;
	*) echo "tools.sh: unknown tool $t" >&2; exit 2 ;;
	esac
done
