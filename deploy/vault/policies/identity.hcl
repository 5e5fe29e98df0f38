# identity: only its own transit keys, named identity-* (transit/keys/identity-*, transit/sign/identity-*,
# transit/hmac/identity-*, transit/encrypt/identity-*, …). It may create, use and rotate them,
# never delete them, and cannot reach another service's keys or any other engine.
path "transit/+/identity-*" {
  capabilities = ["create", "read", "update"]
}

# Data keys: transit/datakey/plaintext/identity-pii has one more path segment.
path "transit/datakey/+/identity-*" {
  capabilities = ["update"]
}
