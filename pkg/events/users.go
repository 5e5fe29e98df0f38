package events

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"amancair.dev/pkg/auth"
)

// KnownUsersDDL is the projection of identity's users that device and contacts
// keep: which user ids exist, and which have been erased.
const KnownUsersDDL = `
CREATE TABLE IF NOT EXISTS known_users (
    user_id    bigint PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at  timestamptz
);
`

// UserEvents keeps a service's known_users projection from identity's
// user.created and user.erased events. onErased runs in the same transaction when
// a user is erased, to destroy that user's data in the service.
type UserEvents struct {
	pool     *pgxpool.Pool
	consumer *Consumer
	onErased func(ctx context.Context, tx pgx.Tx, userID int64) error
	purpose  func(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error
}

// NewUserEvents returns the projection of service, consuming from stream under
// prefix. tx must open a transaction allowed to delete any user's rows.
func NewUserEvents(service string, pool *pgxpool.Pool, nc *nats.Conn, stream jetstream.StreamConfig, prefix string,
	tx func(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error,
	onErased func(ctx context.Context, tx pgx.Tx, userID int64) error, logger *slog.Logger) (*UserEvents, error) {
	// One filter (older servers take no more), skipping user events other than
	// created and erased.
	c, err := NewConsumer(nc, stream, service+"-users", []string{Subject(prefix, "identity", "user.>")}, logger)
	if err != nil {
		return nil, err
	}
	return &UserEvents{pool: pool, consumer: c, onErased: onErased, purpose: tx}, nil
}

// Run consumes until ctx ends.
func (u *UserEvents) Run(ctx context.Context) error {
	return u.consumer.Run(ctx, func(ctx context.Context, batch []Message) error {
		return u.purpose(ctx, u.pool, func(tx pgx.Tx) error {
			for _, m := range batch {
				id := m.Event.Data.SubjectUserID
				if id == nil {
					continue
				}
				switch m.Event.Type {
				case "user.created":
					if _, err := tx.Exec(ctx, `INSERT INTO known_users (user_id) VALUES ($1) ON CONFLICT DO NOTHING`, *id); err != nil {
						return err
					}
				case "user.erased":
					if _, err := tx.Exec(ctx, `INSERT INTO known_users (user_id, erased_at) VALUES ($1, now())
						ON CONFLICT (user_id) DO UPDATE SET erased_at = coalesce(known_users.erased_at, now())`, *id); err != nil {
						return err
					}
					if err := u.onErased(ctx, tx, *id); err != nil {
						return fmt.Errorf("erase user %d: %w", *id, err)
					}
				}
			}
			return nil
		})
	})
}

// ActingFor reports whether the caller in ctx acts for someone other than
// userID (staff), and whether the service may act for that user: staff only for
// users identity has announced and not erased; a caller for itself unless it has
// been erased (its token outlives the erasure by up to 15 minutes, and must not
// bring new personal data back).
func ActingFor(ctx context.Context, tx pgx.Tx, userID int64) (other, allowed bool, err error) {
	if c, ok := auth.CallerFrom(ctx); ok && c.UserID == userID {
		var erased bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM known_users WHERE user_id = $1 AND erased_at IS NOT NULL)`, userID).Scan(&erased)
		return false, !erased, err
	}
	allowed, err = Known(ctx, tx, userID)
	return true, allowed, err
}

// Known reports whether userID exists and is not erased, as far as the
// projection knows.
func Known(ctx context.Context, tx pgx.Tx, userID int64) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM known_users WHERE user_id = $1 AND erased_at IS NULL)`, userID).Scan(&ok)
	return ok, err
}
