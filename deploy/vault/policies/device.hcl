# device: exact paths on its own transit keys only — no wildcard, so never a key's
# config, export, backup, restore or trim (operators rotate and retire versions).
path "transit/keys/device-pii" {
  capabilities = ["create", "read", "update"]
}

path "transit/datakey/plaintext/device-pii" {
  capabilities = ["update"]
}

path "transit/decrypt/device-pii" {
  capabilities = ["update"]
}

path "transit/rewrap/device-pii" {
  capabilities = ["update"]
}
