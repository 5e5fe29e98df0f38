// Package vault adapts identity's use of Vault's transit engine: the access-token
// signing key (ed25519, private half never leaves Vault) and its public JWKS, and
// the keyed hash for login codes and rate-limit keys.
package vault

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/transit"
)

// Key names in the transit engine.
const (
	SigningKey = "identity-jwt"
	HashKey    = "identity-otp"
)

// Keys are the transit keys identity uses, for `identity migrate` to create.
var Keys = []transit.KeySpec{{Name: SigningKey, Type: "ed25519"}, {Name: HashKey, Type: "aes256-gcm96"}}

// cacheFor is how long the signing key's versions are trusted before re-reading;
// a rotation therefore reaches new tokens within this time.
const cacheFor = 5 * time.Second

// Signer signs access tokens in Vault and publishes the verification keys.
type Signer struct {
	engine *transit.Engine

	mu      sync.Mutex
	info    transit.KeyInfo
	readAt  time.Time
	refresh time.Time // last forced refresh for an unknown kid
}

// NewSigner returns a signer using engine.
func NewSigner(engine *transit.Engine) *Signer { return &Signer{engine: engine} }

func (s *Signer) keyInfo(ctx context.Context, force bool) (transit.KeyInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.info.Latest > 0 && time.Since(s.readAt) < cacheFor && !force {
		return s.info, nil
	}
	info, err := s.engine.ReadKey(ctx, SigningKey)
	if err != nil {
		if s.info.Latest > 0 && !force {
			return s.info, nil // keep serving with what we knew
		}
		return transit.KeyInfo{}, err
	}
	s.info, s.readAt = info, time.Now()
	return info, nil
}

// SignAccessToken signs claims with the latest key version, named in kid.
func (s *Signer) SignAccessToken(ctx context.Context, claims auth.Claims) (string, error) {
	info, err := s.keyInfo(ctx, false)
	if err != nil {
		return "", err
	}
	return auth.Sign(claims, strconv.Itoa(info.Latest), func(input []byte) ([]byte, error) {
		return s.engine.Sign(ctx, SigningKey, info.Latest, input)
	})
}

// JWKS returns the public keys of every available version.
func (s *Signer) JWKS(ctx context.Context) (auth.JWKS, error) {
	info, err := s.keyInfo(ctx, false)
	if err != nil {
		return auth.JWKS{}, err
	}
	set := auth.JWKS{Keys: []auth.JWK{}}
	for _, v := range info.Versions() {
		set.Keys = append(set.Keys, auth.Ed25519JWK(v, ed25519.PublicKey(info.PublicKeys[v])))
	}
	return set, nil
}

// Keyfunc verifies identity's own tokens without a round trip to its own JWKS;
// an unknown kid re-reads Vault at most every few seconds.
func (s *Signer) Keyfunc(t *jwt.Token) (any, error) {
	kidStr, _ := t.Header["kid"].(string)
	kid, err := strconv.Atoi(kidStr)
	if err != nil {
		return nil, errors.New("kid is not a key version")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	info, err := s.keyInfo(ctx, false)
	if err != nil {
		return nil, err
	}
	if pub, ok := info.PublicKeys[kid]; ok {
		return ed25519.PublicKey(pub), nil
	}
	s.mu.Lock()
	mayRefresh := time.Since(s.refresh) > 5*time.Second
	if mayRefresh {
		s.refresh = time.Now()
	}
	s.mu.Unlock()
	if mayRefresh {
		if info, err = s.keyInfo(ctx, true); err == nil {
			if pub, ok := info.PublicKeys[kid]; ok {
				return ed25519.PublicKey(pub), nil
			}
		}
	}
	return nil, errors.New("unknown kid")
}

// Hasher makes keyed hashes with identity's hash key in Vault.
type Hasher struct{ engine *transit.Engine }

// NewHasher returns a hasher using engine.
func NewHasher(engine *transit.Engine) *Hasher { return &Hasher{engine: engine} }

// HMAC implements identity.Hasher.
func (h *Hasher) HMAC(ctx context.Context, version int, input []byte) (string, error) {
	return h.engine.HMAC(ctx, HashKey, version, input)
}
