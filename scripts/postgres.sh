#!/usr/bin/env bash
# postgres.sh starts the machine's own PostgreSQL cluster when nothing answers on
# 127.0.0.1:5432 and the cluster exists (Debian's pg_ctlcluster). Where there is no
# cluster, the tests and `make run` start a throwaway one themselves.
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
answers && exit 0
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
	for version in $(ls /etc/postgresql); do
		pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
	done
	for _ in $(seq 50); do answers && exit 0; sleep 0.2; done
fi
echo "postgres.sh: no PostgreSQL on 127.0.0.1:5432; a throwaway cluster will be used" >&2
