#!/bin/sh
# vault-init (docker compose, one shot): enables the transit engine, writes each
# service's policy from /vault-init/policies/<service>.hcl and creates each
# service's token with that policy and the fixed id compose gives the service as
# VAULT_TOKEN. Safe to run again: every step checks first.
# Needs VAULT_ADDR, VAULT_TOKEN (the dev root token) and <SERVICE>_VAULT_TOKEN.
set -eu

if vault secrets list -format=json | grep -q '"transit/"'; then
	echo "vault-init: transit already enabled"
else
	vault secrets enable transit
fi

for file in /vault-init/policies/*.hcl; do
	service=$(basename "$file" .hcl)
	vault policy write "$service" "$file"
	var=$(echo "$service" | tr 'a-z' 'A-Z')_VAULT_TOKEN
	eval "token=\${$var:-}"
	if [ -z "$token" ]; then
		echo "vault-init: $var is not set" >&2
		exit 1
	fi
	if VAULT_TOKEN="$token" vault token lookup >/dev/null 2>&1; then
		echo "vault-init: token for $service exists"
		continue
	fi
	# An orphan periodic token: it outlives vault-init and lasts as long as the
	# dev server (which keeps everything in memory) unless unused for 32 days.
	vault token create -id="$token" -policy="$service" -orphan -period=768h \
		-display-name="$service" >/dev/null
	echo "vault-init: token for $service created"
done
