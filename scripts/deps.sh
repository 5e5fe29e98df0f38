#!/usr/bin/env bash
# deps.sh installs the system packages `make run` and `make test` need on a fresh
# Debian machine that has Go: curl (the end-to-end test runs the blueprint's curl
# examples), make, git, and PostgreSQL's server binaries (used when no PostgreSQL
# answers on 127.0.0.1:5432). It installs nothing that is already there.
set -euo pipefail

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v make >/dev/null || missing+=(make)
command -v git >/dev/null || missing+=(git)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: please install: ${missing[*]} (apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" ca-certificates >/dev/null
