#!/usr/bin/env bash
# test.sh is `make test`: every test of every module — unit, integration against
# real PostgreSQL, NATS and Vault, and end to end through the gateway — ending with
# go test's summary lines. Non-zero on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/postgres.sh
scripts/tools.sh
scripts/deploy-tools.sh
modules=(pkg services/identity services/device services/contacts services/audit devstack deploy/check)
pkgs=()
for m in "${modules[@]}"; do pkgs+=("./$m/..."); done

go vet "${pkgs[@]}"
go test -count=1 -timeout 20m "${pkgs[@]}"
