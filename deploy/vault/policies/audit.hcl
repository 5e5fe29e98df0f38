# audit: exact paths on its own transit key only — it signs the audit chain's
# checkpoints; no config, export, backup, restore or trim.
path "transit/keys/audit-chain" {
  capabilities = ["create", "read", "update"]
}

path "transit/sign/audit-chain" {
  capabilities = ["update"]
}
