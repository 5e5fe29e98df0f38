package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// header decodes a JWT's header.
func header(t *testing.T, token string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// rotate rotates a transit key in the test's Vault.
func rotate(t *testing.T, s *stack, key string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.vars["VAULT_ADDR"]+"/v1/"+s.vars["TRANSIT_MOUNT"]+"/keys/"+key+"/rotate", nil)
	req.Header.Set("X-Vault-Token", s.vars["VAULT_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("rotate %s: %v %v", key, err, resp)
	}
	resp.Body.Close()
}
