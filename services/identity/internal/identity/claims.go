package identity

import (
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func jwtClaims(p LoginPolicy, userID int64, now time.Time) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{
		Issuer:    p.Issuer,
		Subject:   strconv.FormatInt(userID, 10),
		Audience:  jwt.ClaimStrings{p.Audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(p.AccessTTL)),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        uuid.NewString(),
	}
}

// hmacVersion reads the key version from a "vault:vN:…" hash.
func hmacVersion(h string) (int, error) {
	parts := strings.SplitN(h, ":", 3)
	if len(parts) != 3 || !strings.HasPrefix(parts[1], "v") {
		return 0, ErrInvalidCode
	}
	v, err := strconv.Atoi(parts[1][1:])
	if err != nil || v <= 0 {
		return 0, ErrInvalidCode
	}
	return v, nil
}
