// Package auth verifies AmanCair access tokens in every service and carries the
// verified caller through the request context. Tokens are JWTs signed with EdDSA by
// a key held in Vault; only EdDSA is accepted, and iss, aud, exp, iat, sub, jti
// and kid are all required.
package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"amancair.dev/pkg/httpserver"
)

// Roles.
const (
	RoleCustomer = "customer"
	RoleOps      = "ops"
	RoleAdmin    = "admin"
	RoleAuditor  = "auditor"
)

// Algorithm is the only signature algorithm tokens may use.
const Algorithm = "EdDSA"

// Caller is the verified user a request acts for.
type Caller struct {
	UserID  int64
	Roles   []string
	TokenID string
}

// Has reports whether the caller holds any of roles.
func (c Caller) Has(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(c.Roles, r) {
			return true
		}
	}
	return false
}

// IsStaff reports whether the caller may read other people's data (ops or admin).
func (c Caller) IsStaff() bool { return c.Has(RoleOps, RoleAdmin) }

// Owns reports whether the caller is userID, or staff.
func (c Caller) OwnsOrStaff(userID int64) bool { return c.UserID == userID || c.IsStaff() }

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Claims are an access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles"`
}

// ErrInvalidToken is wrapped by every verification failure.
var ErrInvalidToken = errors.New("invalid access token")

// Verifier checks access tokens against the signing keys.
type Verifier struct {
	keys   jwt.Keyfunc
	parser *jwt.Parser
}

// NewVerifier returns a verifier for tokens from issuer for audience, whose keys
// come from keys (RemoteKeys, or identity's own key set).
func NewVerifier(issuer, audience string, keys jwt.Keyfunc) *Verifier {
	return &Verifier{
		keys: func(t *jwt.Token) (any, error) {
			if _, ok := t.Header["kid"].(string); !ok {
				return nil, errors.New("token has no kid")
			}
			return keys(t)
		},
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{Algorithm}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(30*time.Second),
		),
	}
}

// Verify returns the caller a token speaks for, or an error wrapping ErrInvalidToken.
func (v *Verifier) Verify(token string) (Caller, error) {
	var claims Claims
	if _, err := v.parser.ParseWithClaims(token, &claims, v.keys); err != nil {
		return Caller{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	id, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || id <= 0 || claims.ID == "" {
		return Caller{}, fmt.Errorf("%w: sub or jti missing", ErrInvalidToken)
	}
	return Caller{UserID: id, Roles: claims.Roles, TokenID: claims.ID}, nil
}

// Required is middleware that lets a request through only with a valid bearer
// token, and puts its caller in the request context; otherwise 401.
func (v *Verifier) Required() fiber.Handler {
	return func(c *fiber.Ctx) error {
		header := c.Get(fiber.HeaderAuthorization)
		scheme, token, ok := strings.Cut(header, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return httpserver.NewProblem(fiber.StatusUnauthorized, "A bearer access token is required.")
		}
		token = strings.TrimSpace(token)
		caller, err := v.Verify(token)
		if err != nil {
			return httpserver.NewProblem(fiber.StatusUnauthorized, "The access token is invalid or expired.")
		}
		c.SetUserContext(context.WithValue(WithCaller(c.UserContext(), caller), tokenKey{}, token))
		return c.Next()
	}
}

// Sign builds a token for claims with the key version kid, signing it with sign
// (which in identity asks Vault, so the private key never leaves it).
func Sign(claims Claims, kid string, sign func(signingInput []byte) ([]byte, error)) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": Algorithm, "typ": "JWT", "kid": kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sig, err := sign([]byte(input))
	if err != nil {
		return "", err
	}
	if len(sig) != ed25519.SignatureSize {
		return "", fmt.Errorf("signature of %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

type clientIPKey struct{}

// WithClientIP returns ctx carrying the client's address, for the audit trail.
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey{}, ip)
}

// ClientIPFrom returns the client address ctx carries, or "".
func ClientIPFrom(ctx context.Context) string {
	ip, _ := ctx.Value(clientIPKey{}).(string)
	return ip
}

type tokenKey struct{}

// TokenFrom returns the verified bearer token of the request in ctx, for calls a
// service makes to another on the caller's behalf.
func TokenFrom(ctx context.Context) string {
	t, _ := ctx.Value(tokenKey{}).(string)
	return t
}
