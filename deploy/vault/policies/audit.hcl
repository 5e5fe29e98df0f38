# audit: needs no key. An explicit deny keeps the policy meaningful and valid.
path "transit/keys/audit-none" {
  capabilities = ["deny"]
}
