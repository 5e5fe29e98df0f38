package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"amancair.dev/pkg/auth"
)

// TokenIssuer stands in for identity in a service's component tests: it serves a
// JWKS over HTTP and signs access tokens with the matching Ed25519 key, exactly as
// identity formats them. End-to-end tests use the real identity service instead.
type TokenIssuer struct {
	t       testing.TB
	priv    ed25519.PrivateKey
	JWKSURL string
}

// NewTokenIssuer starts the JWKS server; it stops when the test ends.
func NewTokenIssuer(t testing.TB) *TokenIssuer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := auth.JWKS{Keys: []auth.JWK{auth.Ed25519JWK(1, pub)}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return &TokenIssuer{t: t, priv: priv, JWKSURL: srv.URL}
}

// Env adds what a service needs to trust this issuer.
func (i *TokenIssuer) Env(env map[string]string) map[string]string {
	env["IDENTITY_JWKS_URL"] = i.JWKSURL
	env["JWT_ISSUER"] = "amancair-identity"
	env["JWT_AUDIENCE"] = "amancair-api"
	return env
}

// Bearer returns an Authorization header line for a 15-minute token of userID.
func (i *TokenIssuer) Bearer(userID int64, roles ...string) string {
	i.t.Helper()
	if len(roles) == 0 {
		roles = []string{auth.RoleCustomer}
	}
	now := time.Now()
	tok, err := auth.Sign(auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "amancair-identity", Subject: strconv.FormatInt(userID, 10), Audience: jwt.ClaimStrings{"amancair-api"},
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: RandomID(8),
		},
		Roles: roles,
	}, "1", func(in []byte) ([]byte, error) { return ed25519.Sign(i.priv, in), nil })
	if err != nil {
		i.t.Fatal(err)
	}
	return "Authorization: Bearer " + tok
}
