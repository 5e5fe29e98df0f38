// Package postgres stores emergency contacts in the contacts service's schema.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/services/contacts/internal/contacts"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the migration files at their root, as goose expects.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the directory is embedded at compile time
	}
	return sub
}

// Contacts implements contacts.Repository.
type Contacts struct{ pool *pgxpool.Pool }

// NewContacts returns the repository over pool.
func NewContacts(pool *pgxpool.Pool) *Contacts { return &Contacts{pool: pool} }

const contactColumns = `id, user_id, contact_name, contact_phone, coalesce(relation, ''), is_primary, created_at, updated_at`

// Add inserts c under a per-user transaction lock, so the limit and the single
// primary hold under concurrent requests.
func (r *Contacts) Add(ctx context.Context, c contacts.Contact) (contacts.Contact, error) {
	var added contacts.Contact
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('contacts.user', $1))`, c.UserID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM emergency_contacts WHERE user_id = $1`, c.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= contacts.MaxPerUser {
			return contacts.ErrLimitReached
		}
		if c.IsPrimary {
			if _, err := tx.Exec(ctx, `UPDATE emergency_contacts SET is_primary = false, updated_at = now()
				WHERE user_id = $1 AND is_primary`, c.UserID); err != nil {
				return err
			}
		}
		var err error
		added, err = scanContact(tx.QueryRow(ctx, `
			INSERT INTO emergency_contacts (user_id, contact_name, contact_phone, relation, is_primary)
			VALUES ($1, $2, $3, NULLIF($4, ''), $5)
			RETURNING `+contactColumns,
			c.UserID, c.Name, c.Phone, c.Relation, c.IsPrimary))
		return err
	})
	if constraint, ok := pgpkg.UniqueViolation(err); ok && constraint == "emergency_contacts_user_phone_key" {
		return contacts.Contact{}, contacts.ErrDuplicatePhone
	}
	if errors.Is(err, contacts.ErrLimitReached) {
		return contacts.Contact{}, err
	}
	if err != nil {
		return contacts.Contact{}, fmt.Errorf("add contact: %w", err)
	}
	return added, nil
}

// List returns userID's contacts, primary first, then oldest first.
func (r *Contacts) List(ctx context.Context, userID int64) ([]contacts.Contact, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+contactColumns+` FROM emergency_contacts
		WHERE user_id = $1 ORDER BY is_primary DESC, created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (contacts.Contact, error) { return scanContact(row) })
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return list, nil
}

func scanContact(row pgx.Row) (contacts.Contact, error) {
	var c contacts.Contact
	err := row.Scan(&c.ID, &c.UserID, &c.Name, &c.Phone, &c.Relation, &c.IsPrimary, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}
