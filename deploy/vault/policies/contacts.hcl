# contacts: only its own transit keys, named contacts-* (transit/keys/contacts-*, transit/sign/contacts-*,
# transit/hmac/contacts-*, transit/encrypt/contacts-*, …). It may create, use and rotate them,
# never delete them, and cannot reach another service's keys or any other engine.
path "transit/+/contacts-*" {
  capabilities = ["create", "read", "update"]
}

# Data keys: transit/datakey/plaintext/contacts-pii has one more path segment.
path "transit/datakey/+/contacts-*" {
  capabilities = ["update"]
}
