# audit: only its own transit keys, named audit-* (transit/keys/audit-*, transit/sign/audit-*,
# transit/hmac/audit-*, transit/encrypt/audit-*, …). It may create, use and rotate them,
# never delete them, and cannot reach another service's keys or any other engine.
path "transit/+/audit-*" {
  capabilities = ["create", "read", "update"]
}

# Data keys: transit/datakey/plaintext/audit-pii has one more path segment.
path "transit/datakey/+/audit-*" {
  capabilities = ["update"]
}
