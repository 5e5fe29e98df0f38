package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"amancair.dev/pkg/testenv"
)

// vaultCall sends a request to the test's Vault with token and returns the status
// and decoded body.
func vaultCall(t *testing.T, addr, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, addr+"/v1/"+path, rd)
	req.Header.Set("X-Vault-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// identity works with nothing more than deploy/vault/policies/identity.hcl grants,
// and that policy refuses what would let a stolen token carry keys away.
func TestVaultPolicySufficesAndNoMore(t *testing.T) {
	t.Parallel()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "deploy/vault/policies/identity.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	db := testenv.Database(t)
	env := db.ServiceEnv("identity")
	addr, rootToken, mount := env["VAULT_ADDR"], env["VAULT_TOKEN"], env["TRANSIT_MOUNT"]
	policy := "identity-" + testenv.RandomID(4)
	if st, out := vaultCall(t, addr, rootToken, "PUT", "sys/policies/acl/"+policy,
		map[string]any{"policy": strings.ReplaceAll(string(text), `"transit/`, `"`+mount+`/`)}); st >= 300 {
		t.Fatalf("write policy: %d %v", st, out)
	}
	st, out := vaultCall(t, addr, rootToken, "POST", "auth/token/create", map[string]any{"policies": []string{policy}, "ttl": "1h"})
	if st >= 300 {
		t.Fatalf("create token: %d %v", st, out)
	}
	token := out["auth"].(map[string]any)["client_token"].(string)

	s := startStack(t, "VAULT_TOKEN", token, "TRANSIT_MOUNT", mount)
	phone := uniquePhone()
	id := s.register(t, phone, "policy@example.com")
	auth := bearer(s.login(t, phone))
	if r := s.Do("GET", "/users/me", nil, auth); r.Status != http.StatusOK || r.JSON(t)["id"] != float64(id) {
		t.Errorf("read with the policy's token = %d %s", r.Status, r.Body)
	}
	if err := runIdentity(s, &strings.Builder{}, "rewrap"); err != nil {
		t.Errorf("rewrap with the policy's token: %v", err)
	}

	for _, denied := range []struct{ method, path string }{
		{"POST", mount + "/keys/identity-jwt/config"},
		{"GET", mount + "/backup/identity-jwt"},
		{"GET", mount + "/export/signing-key/identity-jwt"},
		{"POST", mount + "/keys/identity-pii/trim"},
		{"DELETE", mount + "/keys/identity-pii"},
		{"POST", mount + "/datakey/plaintext/device-pii"},
		{"POST", mount + "/sign/device-jwt"},
	} {
		if st, _ := vaultCall(t, addr, token, denied.method, denied.path, map[string]any{"exportable": true}); st != http.StatusForbidden {
			t.Errorf("%s %s with identity's token = %d, want 403", denied.method, denied.path, st)
		}
	}
}
