package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/google/uuid"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/events"
	"amancair.dev/pkg/phone"
	"amancair.dev/pkg/validation"
)

// Login errors.
var (
	// ErrInvalidCode covers every failed code exchange alike — unknown phone,
	// wrong, expired, used or exhausted code — so a client learns nothing more.
	ErrInvalidCode = errors.New("invalid or expired code")
	// ErrInvalidRefresh covers unknown, expired and revoked refresh tokens.
	ErrInvalidRefresh = errors.New("invalid refresh token")
	// ErrRefreshReused means a used refresh token came back: its family is revoked.
	ErrRefreshReused = errors.New("refresh token reused; its family is revoked")
)

// RateLimitedError says a limit was hit and when to try again.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string { return "rate limited for " + e.RetryAfter.String() }

// LoginPolicy holds the login's limits.
type LoginPolicy struct {
	CodeTTL          time.Duration // how long a code lives: 5 minutes
	MaxAttempts      int           // wrong tries that kill a code: 5
	AccessTTL        time.Duration // access token lifetime: 15 minutes
	RefreshTTL       time.Duration // refresh token lifetime
	PhoneRequests    Limit         // code requests per phone: 3 per 10 minutes
	IPRequests       Limit         // code requests per client IP
	IPExchanges      Limit         // code exchanges and refreshes per client IP
	PhoneExchanges   Limit         // guesses at live codes per phone and client IP, across codes
	PhoneAnyIP       Limit         // guesses at live codes per phone from anywhere
	Issuer, Audience string
}

// Limit is a count per sliding window.
type Limit struct {
	Count  int
	Window time.Duration
}

// DefaultLoginPolicy is the contract's policy.
func DefaultLoginPolicy() LoginPolicy {
	return LoginPolicy{
		CodeTTL: 5 * time.Minute, MaxAttempts: 5, AccessTTL: 15 * time.Minute, RefreshTTL: 30 * 24 * time.Hour,
		PhoneRequests: Limit{3, 10 * time.Minute}, IPRequests: Limit{30, 10 * time.Minute}, IPExchanges: Limit{60, time.Minute},
		// New codes reset a code's five tries; these cap guesses per phone per day.
		// Only guesses at a live code count, so a stranger cannot lock a phone out
		// without also flooding it with codes; per client IP first, then overall.
		PhoneExchanges: Limit{30, 24 * time.Hour}, PhoneAnyIP: Limit{100, 24 * time.Hour},
		Issuer: "amancair-identity", Audience: "amancair-api",
	}
}

// LoginRepository stores what login needs; postgres implements it.
type LoginRepository interface {
	// UserByPhone returns the user with phone, or ErrNotFound.
	UserByPhone(ctx context.Context, phone string) (User, error)
	// SaveCode replaces the user's code with a fresh one (attempts reset).
	SaveCode(ctx context.Context, userID int64, codeHMAC string, expiresAt time.Time) error
	// LiveCode returns the keyed hash of the user's unexpired, unused code that
	// still has tries left, or ErrInvalidCode.
	LiveCode(ctx context.Context, userID int64, maxAttempts int) (string, error)
	// ConsumeCode atomically uses the code if candidate matches it and it is
	// still live, or counts a wrong try. Exactly one of any number of concurrent
	// calls with the right code gets true.
	ConsumeCode(ctx context.Context, userID int64, candidate string, maxAttempts int) (bool, error)
	// LoggedIn marks the user's phone verified and returns the user.
	LoggedIn(ctx context.Context, userID int64) (User, error)
	// StoreRefresh stores a refresh token's hash in family.
	StoreRefresh(ctx context.Context, userID int64, family uuid.UUID, hash []byte, expiresAt time.Time) error
	// RotateRefresh marks the token with hash used and returns its user and family;
	// a token already used revokes its whole family. Invalid ones: ErrInvalidRefresh.
	RotateRefresh(ctx context.Context, hash []byte) (userID int64, family uuid.UUID, err error)
	// RevokeFamily revokes the family of the token with hash, if any.
	RevokeFamily(ctx context.Context, hash []byte) error
	// Record writes an event that goes with no change (a failed login).
	Record(ctx context.Context, ev events.Event) error
}

// Hasher makes keyed hashes with a key that never leaves Vault. version 0 means
// the latest; the result names the version it used ("vault:vN:…").
type Hasher interface {
	HMAC(ctx context.Context, version int, input []byte) (string, error)
}

// TokenSigner signs access tokens.
type TokenSigner interface {
	SignAccessToken(ctx context.Context, claims auth.Claims) (string, error)
}

// CodeSender hands a login code to the SMS gateway.
type CodeSender interface {
	SendLoginCode(ctx context.Context, phone, code string, ttl time.Duration) error
}

// RateLimiter counts hits per key over a sliding window, across replicas.
type RateLimiter interface {
	Allow(ctx context.Context, key string, limit Limit) (ok bool, retryAfter time.Duration, err error)
}

// Tokens are what a successful login or refresh returns.
type Tokens struct {
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken string
}

// Login holds the OTP login use cases.
type Login struct {
	repo     LoginRepository
	hasher   Hasher
	signer   TokenSigner
	sender   CodeSender
	throttle *Throttle
	policy   LoginPolicy
	now      func() time.Time
}

// NewLogin returns the login use cases.
func NewLogin(repo LoginRepository, hasher Hasher, signer TokenSigner, sender CodeSender, throttle *Throttle, policy LoginPolicy, now func() time.Time) *Login {
	return &Login{repo: repo, hasher: hasher, signer: signer, sender: sender, throttle: throttle, policy: policy, now: now}
}

// CodeTTL is how long a requested code lives.
func (l *Login) CodeTTL() time.Duration { return l.policy.CodeTTL }

// RequestCode sends a fresh code to phone if it belongs to a user. It answers the
// same, after the same work, whether or not it does, so callers cannot tell which
// phones are registered.
func (l *Login) RequestCode(ctx context.Context, rawPhone, clientIP string) error {
	p, err := normalizePhone(rawPhone)
	if err != nil {
		return err
	}
	if err := l.limit(ctx, "otp-ip", clientIP, l.policy.IPRequests); err != nil {
		return err
	}
	if err := l.limit(ctx, "otp-phone", p, l.policy.PhoneRequests); err != nil {
		return err
	}
	code, err := newCode()
	if err != nil {
		return err
	}
	user, err := l.repo.UserByPhone(ctx, p)
	if errors.Is(err, ErrNotFound) {
		// The same Vault round trip and write as for a real code, so the answer
		// takes as long.
		if _, err := l.hasher.HMAC(ctx, 0, codeInput(0, code)); err != nil {
			return err
		}
		return l.repo.Record(ctx, events.Event{Type: "auth.otp_requested"})
	}
	if err != nil {
		return err
	}
	h, err := l.hasher.HMAC(ctx, 0, codeInput(user.ID, code))
	if err != nil {
		return err
	}
	if err := l.repo.SaveCode(ctx, user.ID, h, l.now().Add(l.policy.CodeTTL)); err != nil {
		return err
	}
	return l.sender.SendLoginCode(ctx, p, code, l.policy.CodeTTL)
}

// ExchangeCode trades a phone's live code for tokens, and marks the phone verified.
func (l *Login) ExchangeCode(ctx context.Context, rawPhone, code, clientIP string) (Tokens, error) {
	if err := l.limit(ctx, "token-ip", clientIP, l.policy.IPExchanges); err != nil {
		return Tokens{}, err
	}
	p, err := normalizePhone(rawPhone)
	if err != nil {
		return Tokens{}, err
	}
	if len(code) != 6 || !isDigits(code) {
		return Tokens{}, ErrInvalidCode
	}
	user, err := l.repo.UserByPhone(ctx, p)
	if errors.Is(err, ErrNotFound) {
		return Tokens{}, l.failed(ctx, 0)
	}
	if err != nil {
		return Tokens{}, err
	}
	stored, err := l.repo.LiveCode(ctx, user.ID, l.policy.MaxAttempts)
	if errors.Is(err, ErrInvalidCode) {
		return Tokens{}, l.failed(ctx, user.ID)
	}
	if err != nil {
		return Tokens{}, err
	}
	if err := l.limit(ctx, "token-phone-ip", p+"|"+clientIP, l.policy.PhoneExchanges); err != nil {
		return Tokens{}, err
	}
	if err := l.limit(ctx, "token-phone", p, l.policy.PhoneAnyIP); err != nil {
		return Tokens{}, err
	}
	version, err := hmacVersion(stored)
	if err != nil {
		return Tokens{}, err
	}
	candidate, err := l.hasher.HMAC(ctx, version, codeInput(user.ID, code))
	if err != nil {
		return Tokens{}, err
	}
	ok, err := l.repo.ConsumeCode(ctx, user.ID, candidate, l.policy.MaxAttempts)
	if err != nil {
		return Tokens{}, err
	}
	if !ok {
		return Tokens{}, ErrInvalidCode
	}
	user, err = l.repo.LoggedIn(ctx, user.ID)
	if err != nil {
		return Tokens{}, err
	}
	return l.issue(ctx, user, uuid.New())
}

// failed records a failed login and returns ErrInvalidCode.
func (l *Login) failed(ctx context.Context, userID int64) error {
	if err := l.repo.Record(ctx, events.Event{Type: "auth.login_failed", SubjectUserID: userID}); err != nil {
		return err
	}
	return ErrInvalidCode
}

// Refresh trades a refresh token for a new pair; the old one stops working, and
// presenting it again revokes the whole family.
func (l *Login) Refresh(ctx context.Context, refreshToken, clientIP string) (Tokens, error) {
	if err := l.limit(ctx, "token-ip", clientIP, l.policy.IPExchanges); err != nil {
		return Tokens{}, err
	}
	userID, family, err := l.repo.RotateRefresh(ctx, hashRefresh(refreshToken))
	if err != nil {
		return Tokens{}, err
	}
	user, err := l.repo.LoggedIn(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return Tokens{}, ErrInvalidRefresh
	}
	if err != nil {
		return Tokens{}, err
	}
	return l.issue(ctx, user, family)
}

// Logout revokes the refresh token's family. Unknown tokens are ignored.
func (l *Login) Logout(ctx context.Context, refreshToken string) error {
	return l.repo.RevokeFamily(ctx, hashRefresh(refreshToken))
}

func (l *Login) issue(ctx context.Context, user User, family uuid.UUID) (Tokens, error) {
	now := l.now()
	access, err := l.signer.SignAccessToken(ctx, auth.Claims{
		RegisteredClaims: jwtClaims(l.policy, user.ID, now),
		Roles:            user.Roles,
	})
	if err != nil {
		return Tokens{}, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Tokens{}, err
	}
	refresh := base64.RawURLEncoding.EncodeToString(raw)
	if err := l.repo.StoreRefresh(ctx, user.ID, family, hashRefresh(refresh), now.Add(l.policy.RefreshTTL)); err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, ExpiresIn: l.policy.AccessTTL, RefreshToken: refresh}, nil
}

func (l *Login) limit(ctx context.Context, kind, subject string, lim Limit) error {
	return l.throttle.Check(ctx, kind, subject, lim)
}

// Throttle applies rate limits whose keys are keyed hashes of the subject (a
// phone, an IP), so the limit table holds no personal data.
type Throttle struct {
	hasher Hasher
	limits RateLimiter
}

// NewThrottle returns a throttle hashing with hasher and counting with limits.
func NewThrottle(hasher Hasher, limits RateLimiter) *Throttle {
	return &Throttle{hasher: hasher, limits: limits}
}

// Check counts one hit of kind for subject and returns a RateLimitedError when
// lim is exceeded.
func (t *Throttle) Check(ctx context.Context, kind, subject string, lim Limit) error {
	key, err := t.hasher.HMAC(ctx, 0, []byte(kind+":"+subject))
	if err != nil {
		return err
	}
	// The key is versioned by Vault; a rotation starts fresh windows, which is fine.
	ok, retry, err := t.limits.Allow(ctx, kind+":"+key, lim)
	if err != nil {
		return err
	}
	if !ok {
		return &RateLimitedError{RetryAfter: retry}
	}
	return nil
}

func normalizePhone(raw string) (string, error) {
	p, err := phone.NormalizeMobile(raw)
	if err != nil {
		var errs validation.Errors
		errs.Add("phone", err.Error())
		return "", errs
	}
	return p, nil
}

// newCode returns six uniformly random digits.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// codeInput binds a code to its user, so a hash copied to another user's row
// does not verify.
func codeInput(userID int64, code string) []byte {
	return []byte("otp:" + strconv.FormatInt(userID, 10) + ":" + code)
}

func hashRefresh(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
