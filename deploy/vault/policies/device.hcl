# device: only its own transit keys, named device-* (transit/keys/device-*, transit/sign/device-*,
# transit/hmac/device-*, transit/encrypt/device-*, …). It may create, use and rotate them,
# never delete them, and cannot reach another service's keys or any other engine.
path "transit/+/device-*" {
  capabilities = ["create", "read", "update"]
}

# Data keys: transit/datakey/plaintext/device-pii has one more path segment.
path "transit/datakey/+/device-*" {
  capabilities = ["update"]
}
