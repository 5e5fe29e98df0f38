# contacts: exact paths on its own transit keys only — no wildcard, so never a key's
# config, export, backup, restore or trim (operators rotate and retire versions).
path "transit/keys/contacts-pii" {
  capabilities = ["create", "read", "update"]
}

path "transit/datakey/plaintext/contacts-pii" {
  capabilities = ["update"]
}

path "transit/decrypt/contacts-pii" {
  capabilities = ["update"]
}

path "transit/rewrap/contacts-pii" {
  capabilities = ["update"]
}
