package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"amancair.dev/pkg/auth"
)

const (
	issuer   = "https://amancair.dev/identity"
	audience = "amancair-api"
)

type keyring struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newKeyring(t *testing.T) keyring {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyring{pub, priv}
}

func (k keyring) keyfunc(t *jwt.Token) (any, error) {
	if t.Header["kid"] != "1" {
		return nil, errors.New("unknown kid")
	}
	return k.pub, nil
}

func claims(mod func(*auth.Claims)) auth.Claims {
	now := time.Now()
	c := auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: "42", Audience: jwt.ClaimStrings{audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "jti-1",
		},
		Roles: []string{"customer"},
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

func (k keyring) sign(t *testing.T, c auth.Claims) string {
	t.Helper()
	tok, err := auth.Sign(c, "1", func(in []byte) ([]byte, error) { return ed25519.Sign(k.priv, in), nil })
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyAcceptsAGoodToken(t *testing.T) {
	t.Parallel()
	k := newKeyring(t)
	v := auth.NewVerifier(issuer, audience, k.keyfunc)
	caller, err := v.Verify(k.sign(t, claims(nil)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if caller.UserID != 42 || !caller.Has("customer") || caller.IsStaff() || caller.TokenID != "jti-1" {
		t.Errorf("caller = %+v", caller)
	}
}

func TestVerifyRejectsAttacks(t *testing.T) {
	t.Parallel()
	k := newKeyring(t)
	other := newKeyring(t)
	v := auth.NewVerifier(issuer, audience, k.keyfunc)
	enc := base64.RawURLEncoding

	good := k.sign(t, claims(nil))
	parts := strings.Split(good, ".")

	hs256WithPublicKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		tok.Header["kid"] = "1"
		s, err := tok.SignedString([]byte(k.pub))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	algNone := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil))
		tok.Header["kid"] = "1"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tampered := func() string {
		payload, _ := enc.DecodeString(parts[1])
		forged := strings.Replace(string(payload), `"customer"`, `"admin"`, 1)
		return parts[0] + "." + enc.EncodeToString([]byte(forged)) + "." + parts[2]
	}
	noKid := func() string {
		header := enc.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`))
		in := header + "." + parts[1]
		return in + "." + enc.EncodeToString(ed25519.Sign(k.priv, []byte(in)))
	}
	unknownKid := func() string {
		tok, _ := auth.Sign(claims(nil), "99", func(in []byte) ([]byte, error) { return ed25519.Sign(k.priv, in), nil })
		return tok
	}

	tests := map[string]string{
		"alg none":                    algNone(),
		"HS256 keyed with public key": hs256WithPublicKey(),
		"expired":                     k.sign(t, claims(func(c *auth.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) })),
		"no expiry":                   k.sign(t, claims(func(c *auth.Claims) { c.ExpiresAt = nil })),
		"issued in the future":        k.sign(t, claims(func(c *auth.Claims) { c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) })),
		"wrong audience":              k.sign(t, claims(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"someone-else"} })),
		"wrong issuer":                k.sign(t, claims(func(c *auth.Claims) { c.Issuer = "https://evil.example" })),
		"unknown kid":                 unknownKid(),
		"no kid":                      noKid(),
		"tampered payload":            tampered(),
		"signed by another key":       other.sign(t, claims(nil)),
		"subject not a user id":       k.sign(t, claims(func(c *auth.Claims) { c.Subject = "admin" })),
		"no jti":                      k.sign(t, claims(func(c *auth.Claims) { c.ID = "" })),
		"garbage":                     "not.a.token",
		"signature stripped":          parts[0] + "." + parts[1] + ".",
	}
	for name, token := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if caller, err := v.Verify(token); !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("Verify = %+v, %v; want ErrInvalidToken", caller, err)
			}
		})
	}
}
