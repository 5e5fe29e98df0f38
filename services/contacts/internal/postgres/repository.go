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

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/events"
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

// Contacts implements contacts.Repository; changes and staff reads write their
// events to the outbox in the same transaction.
type Contacts struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
}

// NewContacts returns the repository over pool, writing events to outbox.
func NewContacts(pool *pgxpool.Pool, outbox *events.Outbox) *Contacts {
	return &Contacts{pool: pool, outbox: outbox}
}

// Erase deletes an erased user's contacts; the user-events consumer calls it.
func Erase(ctx context.Context, tx pgx.Tx, userID int64) error {
	_, err := tx.Exec(ctx, `DELETE FROM emergency_contacts WHERE user_id = $1`, userID)
	return err
}

// forOther checks, when the caller acts for someone else (staff), that identity
// knows the user, and returns whether it is someone else.
func forOther(ctx context.Context, tx pgx.Tx, userID int64) (bool, error) {
	if c, ok := auth.CallerFrom(ctx); ok && c.UserID == userID {
		return false, nil
	}
	known, err := events.Known(ctx, tx, userID)
	if err != nil {
		return true, err
	}
	if !known {
		return true, contacts.ErrUnknownUser
	}
	return true, nil
}

func contactEvent(typ string, c contacts.Contact, fields ...string) events.Event {
	return events.Event{Type: typ, SubjectUserID: c.UserID, Fields: fields, Refs: map[string]int64{"contact_id": c.ID}}
}

var contactFields = []string{"contact_name", "contact_phone", "relation", "is_primary"}

const contactColumns = `id, user_id, contact_name, contact_phone, coalesce(relation, ''), is_primary, created_at, updated_at`

// Add inserts c under a per-user transaction lock, so the limit and the single
// primary hold under concurrent requests.
func (r *Contacts) Add(ctx context.Context, c contacts.Contact) (contacts.Contact, error) {
	var added contacts.Contact
	err := pgpkg.Tx(ctx, r.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, c.UserID); err != nil {
			return err
		}
		if _, err := forOther(ctx, tx, c.UserID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM emergency_contacts WHERE user_id = $1`, c.UserID).Scan(&n); err != nil {
			return err
		}
		if n >= contacts.MaxPerUser {
			return contacts.ErrLimitReached
		}
		if err := demotePrimary(ctx, tx, c); err != nil {
			return err
		}
		var err error
		added, err = scanContact(tx.QueryRow(ctx, `
			INSERT INTO emergency_contacts (user_id, contact_name, contact_phone, relation, is_primary)
			VALUES ($1, $2, $3, NULLIF($4, ''), $5)
			RETURNING `+contactColumns,
			c.UserID, c.Name, c.Phone, c.Relation, c.IsPrimary))
		if err != nil {
			return err
		}
		return r.outbox.Append(ctx, tx, contactEvent("contact.added", added, contactFields...))
	})
	if constraint, ok := pgpkg.UniqueViolation(err); ok && constraint == "emergency_contacts_user_phone_key" {
		return contacts.Contact{}, contacts.ErrDuplicatePhone
	}
	if errors.Is(err, contacts.ErrLimitReached) || errors.Is(err, contacts.ErrUnknownUser) {
		return contacts.Contact{}, err
	}
	if err != nil {
		return contacts.Contact{}, fmt.Errorf("add contact: %w", err)
	}
	return added, nil
}

// List returns userID's contacts, primary first, then oldest first.
func (r *Contacts) List(ctx context.Context, userID int64) ([]contacts.Contact, error) {
	var list []contacts.Contact
	err := pgpkg.Tx(ctx, r.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		other, err := forOther(ctx, tx, userID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+contactColumns+` FROM emergency_contacts
			WHERE user_id = $1 ORDER BY is_primary DESC, created_at, id`, userID)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (contacts.Contact, error) { return scanContact(row) })
		if err != nil || !other {
			return err
		}
		return r.outbox.Append(ctx, tx, events.Event{Type: "contact.viewed", SubjectUserID: userID})
	})
	if errors.Is(err, contacts.ErrUnknownUser) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return list, nil
}

// Replace overwrites a contact under the user's lock.
func (r *Contacts) Replace(ctx context.Context, c contacts.Contact) (contacts.Contact, error) {
	var updated contacts.Contact
	err := pgpkg.Tx(ctx, r.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, c.UserID); err != nil {
			return err
		}
		if err := demotePrimary(ctx, tx, c); err != nil {
			return err
		}
		before, err := scanContact(tx.QueryRow(ctx, `SELECT `+contactColumns+` FROM emergency_contacts
			WHERE id = $1 AND user_id = $2`, c.ID, c.UserID))
		if err != nil {
			return err
		}
		updated, err = scanContact(tx.QueryRow(ctx, `
			UPDATE emergency_contacts
			SET contact_name = $3, contact_phone = $4, relation = NULLIF($5, ''), is_primary = $6, updated_at = now()
			WHERE id = $1 AND user_id = $2
			RETURNING `+contactColumns,
			c.ID, c.UserID, c.Name, c.Phone, c.Relation, c.IsPrimary))
		if err != nil {
			return err
		}
		return r.outbox.Append(ctx, tx, contactEvent("contact.updated", updated, changed(before, updated)...))
	})
	if constraint, ok := pgpkg.UniqueViolation(err); ok && constraint == "emergency_contacts_user_phone_key" {
		return contacts.Contact{}, contacts.ErrDuplicatePhone
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return contacts.Contact{}, contacts.ErrNotFound
	}
	if err != nil {
		return contacts.Contact{}, fmt.Errorf("replace contact: %w", err)
	}
	return updated, nil
}

// Remove deletes a contact.
func (r *Contacts) Remove(ctx context.Context, userID, id int64) error {
	var n int64
	err := pgpkg.Tx(ctx, r.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM emergency_contacts WHERE id = $1 AND user_id = $2`, id, userID)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return r.outbox.Append(ctx, tx, contactEvent("contact.removed", contacts.Contact{ID: id, UserID: userID}))
	})
	if err != nil {
		return fmt.Errorf("remove contact: %w", err)
	}
	if n == 0 {
		return contacts.ErrNotFound
	}
	return nil
}

// lockUser serialises changes to one user's contacts, so the limit and the
// single primary hold under concurrent requests.
func lockUser(ctx context.Context, tx pgx.Tx, userID int64) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('contacts.user', $1))`, userID)
	return err
}

// demotePrimary clears the user's other primary when c is to be primary.
func demotePrimary(ctx context.Context, tx pgx.Tx, c contacts.Contact) error {
	if !c.IsPrimary {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE emergency_contacts SET is_primary = false, updated_at = now()
		WHERE user_id = $1 AND is_primary AND id <> $2`, c.UserID, c.ID)
	return err
}

// changed names the fields that differ between before and after.
func changed(before, after contacts.Contact) []string {
	var fields []string
	if before.Name != after.Name {
		fields = append(fields, "contact_name")
	}
	if before.Phone != after.Phone {
		fields = append(fields, "contact_phone")
	}
	if before.Relation != after.Relation {
		fields = append(fields, "relation")
	}
	if before.IsPrimary != after.IsPrimary {
		fields = append(fields, "is_primary")
	}
	return fields
}

func scanContact(row pgx.Row) (contacts.Contact, error) {
	var c contacts.Contact
	err := row.Scan(&c.ID, &c.UserID, &c.Name, &c.Phone, &c.Relation, &c.IsPrimary, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}
