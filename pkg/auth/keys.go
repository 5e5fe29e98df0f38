package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// RemoteKeys fetches the JWKS at url, caches it, refreshes it hourly and, when a
// token names a key id it does not know, at most about once a second (so a
// rotated signing key is picked up at once, and forged key ids cannot make it
// hammer identity). It does not fail when the JWKS is unreachable
// at start: tokens simply fail verification until it is.
func RemoteKeys(ctx context.Context, url string, logger *slog.Logger) (jwt.Keyfunc, error) {
	noErr := true
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
		HTTPTimeout:               5 * time.Second,
		RefreshInterval:           time.Hour,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(time.Second), 2),
		RateLimitWaitMax:          time.Second,
		NoErrorReturnFirstHTTPReq: &noErr,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "jwks refresh failed", "error", err.Error())
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", url, err)
	}
	return kf.Keyfunc, nil
}

// JWK is one public key in a JWKS document.
type JWK struct {
	KeyType string `json:"kty"`
	Curve   string `json:"crv"`
	X       string `json:"x"`
	KeyID   string `json:"kid"`
	Alg     string `json:"alg"`
	Use     string `json:"use"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// Ed25519JWK describes an Ed25519 public key of version kid.
func Ed25519JWK(kid int, pub ed25519.PublicKey) JWK {
	return JWK{KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
		KeyID: strconv.Itoa(kid), Alg: Algorithm, Use: "sig"}
}
