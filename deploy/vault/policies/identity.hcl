# identity: only its own transit keys, named identity-* (transit/keys/identity-*, transit/sign/identity-*,
# transit/hmac/identity-*, transit/encrypt/identity-*, …). It may create, use and rotate them,
# never delete them, and cannot reach another service's keys or any other engine.
path "transit/+/identity-*" {
  capabilities = ["create", "read", "update"]
}
