package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/pii"
	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/services/identity/internal/identity"
)

// Logins implements identity.LoginRepository. Every statement runs with the
// login purpose, the only one the code and token tables admit.
type Logins struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
	keys   *pii.Keyring
}

// NewLogins returns the repository over pool, finding phones through keys' blind
// index and writing events to outbox.
func NewLogins(pool *pgxpool.Pool, outbox *events.Outbox, keys *pii.Keyring) *Logins {
	return &Logins{pool: pool, outbox: outbox, keys: keys}
}

// Record writes an event on its own, for outcomes that change no row (a code
// requested for an unknown phone, a failed login).
func (l *Logins) Record(ctx context.Context, ev events.Event) error {
	return l.tx(ctx, func(tx pgx.Tx) error { return l.outbox.Append(ctx, tx, ev) })
}

func (l *Logins) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgpkg.Tx(ctx, l.pool, pgpkg.PurposeLogin, fn)
}

// UserByPhone returns the id and roles of the user with phone; login needs
// nothing else, so nothing is decrypted.
func (l *Logins) UserByPhone(ctx context.Context, phone string) (identity.User, error) {
	var user identity.User
	err := l.tx(ctx, func(tx pgx.Tx) error {
		ix, err := l.keys.Index(ctx, tx)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT id, roles FROM users WHERE phone_bidx = $1 AND erased_at IS NULL`,
			ix.Of(phoneIndex, phone)).Scan(&user.ID, &user.Roles)
	})
	if err != nil {
		return identity.User{}, translate(err, "find user by phone")
	}
	return user, nil
}

// SaveCode replaces the user's code.
func (l *Logins) SaveCode(ctx context.Context, userID int64, codeHMAC string, expiresAt time.Time) error {
	err := l.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO otp_codes (user_id, code_hmac, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE
			SET code_hmac = EXCLUDED.code_hmac, expires_at = EXCLUDED.expires_at,
			    attempts = 0, consumed_at = NULL, created_at = now()`,
			userID, codeHMAC, expiresAt)
		if err != nil {
			return err
		}
		return l.outbox.Append(ctx, tx, events.Event{Type: "auth.otp_requested", SubjectUserID: userID})
	})
	if err != nil {
		return fmt.Errorf("save code: %w", err)
	}
	return nil
}

// LiveCode returns the hash of the user's live code.
func (l *Logins) LiveCode(ctx context.Context, userID int64, maxAttempts int) (string, error) {
	var h string
	err := l.tx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT code_hmac FROM otp_codes
			WHERE user_id = $1 AND consumed_at IS NULL AND expires_at > now() AND attempts < $2`,
			userID, maxAttempts).Scan(&h)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", identity.ErrInvalidCode
	}
	if err != nil {
		return "", fmt.Errorf("read code: %w", err)
	}
	return h, nil
}

// ConsumeCode uses or counts against the code in one statement, under the row's
// lock, so exactly one concurrent right answer wins.
func (l *Logins) ConsumeCode(ctx context.Context, userID int64, candidate string, maxAttempts int) (bool, error) {
	var used bool
	err := l.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE otp_codes
			SET attempts = attempts + (code_hmac <> $2)::int,
			    consumed_at = CASE WHEN code_hmac = $2 THEN now() END
			WHERE user_id = $1 AND consumed_at IS NULL AND expires_at > now() AND attempts < $3
			RETURNING consumed_at IS NOT NULL`, userID, candidate, maxAttempts).Scan(&used)
		if errors.Is(err, pgx.ErrNoRows) {
			used = false
		} else if err != nil {
			return err
		}
		if !used {
			return l.outbox.Append(ctx, tx, events.Event{Type: "auth.login_failed", SubjectUserID: userID})
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("consume code: %w", err)
	}
	return used, nil
}

// LoggedIn marks the phone verified and returns the user's id and roles.
func (l *Logins) LoggedIn(ctx context.Context, userID int64) (identity.User, error) {
	var user identity.User
	err := l.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE users SET phone_verified = true,
			    updated_at = CASE WHEN phone_verified THEN updated_at ELSE now() END
			WHERE id = $1 AND erased_at IS NULL RETURNING id, roles`, userID).Scan(&user.ID, &user.Roles)
		if err != nil {
			return err
		}
		return l.outbox.Append(ctx, tx, events.Event{Type: "auth.login_succeeded", SubjectUserID: userID})
	})
	if err != nil {
		return identity.User{}, translate(err, "mark phone verified")
	}
	return user, nil
}

// StoreRefresh stores a refresh token's hash.
func (l *Logins) StoreRefresh(ctx context.Context, userID int64, family uuid.UUID, hash []byte, expiresAt time.Time) error {
	err := l.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`,
			family, userID, hash, expiresAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("store refresh token: %w", err)
	}
	return nil
}

// errReused rolls back nothing: the family's revocation must commit, so it is
// reported after the transaction.
var errReused = errors.New("refresh token reused")

// RotateRefresh uses the token once; a second use revokes its family.
func (l *Logins) RotateRefresh(ctx context.Context, hash []byte) (int64, uuid.UUID, error) {
	var (
		userID int64
		family uuid.UUID
		reused bool
	)
	err := l.tx(ctx, func(tx pgx.Tx) error {
		var usedAt, revokedAt *time.Time
		var expiresAt time.Time
		err := tx.QueryRow(ctx, `SELECT user_id, family_id, used_at, revoked_at, expires_at
			FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`, hash).Scan(&userID, &family, &usedAt, &revokedAt, &expiresAt)
		if err != nil {
			return err
		}
		switch {
		case revokedAt != nil || !expiresAt.After(time.Now()):
			return identity.ErrInvalidRefresh
		case usedAt != nil:
			reused = true
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, family); err != nil {
				return err
			}
			return l.outbox.Append(ctx, tx, events.Event{Type: "auth.refresh_reuse_detected", SubjectUserID: userID})
		}
		_, err = tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1`, hash)
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows), errors.Is(err, identity.ErrInvalidRefresh):
		return 0, uuid.Nil, identity.ErrInvalidRefresh
	case err != nil:
		return 0, uuid.Nil, fmt.Errorf("rotate refresh token: %w", err)
	case reused:
		return 0, uuid.Nil, identity.ErrRefreshReused
	}
	return userID, family, nil
}

// RevokeFamily revokes every token in the family of the token with hash.
func (l *Logins) RevokeFamily(ctx context.Context, hash []byte) error {
	err := l.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now()
			WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL`, hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke refresh family: %w", err)
	}
	return nil
}

// Allow implements identity.RateLimiter with a sliding log per key, serialised
// per key by a transaction lock so concurrent replicas count exactly.
func (l *Logins) Allow(ctx context.Context, key string, lim identity.Limit) (bool, time.Duration, error) {
	var (
		ok    bool
		retry time.Duration
	)
	err := l.tx(ctx, func(tx pgx.Tx) error {
		window := lim.Window.Seconds()
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, key); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rate_limit_hits WHERE key = $1 AND at <= now() - make_interval(secs => $2)`, key, window); err != nil {
			return err
		}
		var n int
		var oldest *time.Time
		if err := tx.QueryRow(ctx, `SELECT count(*), min(at) FROM rate_limit_hits WHERE key = $1`, key).Scan(&n, &oldest); err != nil {
			return err
		}
		if n >= lim.Count {
			retry = time.Until(oldest.Add(lim.Window)).Round(time.Second) + time.Second
			return nil
		}
		ok = true
		if _, err := tx.Exec(ctx, `INSERT INTO rate_limit_hits (key) VALUES ($1)`, key); err != nil {
			return err
		}
		if rand.IntN(100) == 0 { // now and then, forget keys nobody has hit for a day
			_, err := tx.Exec(ctx, `DELETE FROM rate_limit_hits WHERE at < now() - interval '1 day'`)
			return err
		}
		return nil
	})
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	return ok, retry, nil
}

// HMAC implements identity.Hasher for rate-limit keys with the blind-index key,
// which the process holds already: a throttle check costs no Vault round trip.
// (Login codes keep Vault's keyed hash.) The version is always the pinned one.
func (l *Logins) HMAC(ctx context.Context, _ int, input []byte) (string, error) {
	ix := l.keys.LoadedIndex()
	if ix == nil {
		err := l.tx(ctx, func(tx pgx.Tx) error {
			var err error
			ix, err = l.keys.Index(ctx, tx)
			return err
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(ix.Of("ratelimit", string(input))), nil
}
