# identity: exact paths on its own transit keys only — no wildcard, so never a key's
# config, export, backup, restore or trim (operators rotate and retire versions).
path "transit/keys/identity-pii" {
  capabilities = ["create", "read", "update"]
}

path "transit/datakey/plaintext/identity-pii" {
  capabilities = ["update"]
}

path "transit/decrypt/identity-pii" {
  capabilities = ["update"]
}

path "transit/rewrap/identity-pii" {
  capabilities = ["update"]
}

path "transit/keys/identity-jwt" {
  capabilities = ["create", "read", "update"]
}

path "transit/sign/identity-jwt" {
  capabilities = ["update"]
}

path "transit/keys/identity-otp" {
  capabilities = ["create", "read", "update"]
}

path "transit/hmac/identity-otp" {
  capabilities = ["update"]
}
