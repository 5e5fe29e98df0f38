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

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/pii"
	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/pkg/transit"
	"amancair.dev/services/contacts/internal/contacts"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema's goose migrations.
func Migrations() fs.FS { return pgpkg.MigrationFiles(migrations) }

// Contacts implements contacts.Repository; changes and staff reads write their
// events to the outbox in the same transaction.
type Contacts struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
	keys   *pii.Keyring
}

// NewContacts returns the repository over pool, encrypting with keys and writing
// events to outbox.
func NewContacts(pool *pgxpool.Pool, outbox *events.Outbox, keys *pii.Keyring) *Contacts {
	return &Contacts{pool: pool, outbox: outbox, keys: keys}
}

const phoneIndex = "emergency_contacts.contact_phone"

func contactEvent(typ string, c contacts.Contact, fields ...string) events.Event {
	return events.Event{Type: typ, SubjectUserID: c.UserID, Fields: fields, Refs: map[string]int64{"contact_id": c.ID}}
}

var contactFields = []string{"contact_name", "contact_phone", "relation", "is_primary"}

const contactColumns = `id, user_id, contact_name_enc, contact_phone_enc, coalesce(relation, ''), is_primary, created_at, updated_at`

// Add inserts c under a per-user transaction lock, so the limit and the single
// primary hold under concurrent requests.
func (r *Contacts) Add(ctx context.Context, c contacts.Contact) (contacts.Contact, error) {
	var added contacts.Contact
	err := pgpkg.Tx(ctx, r.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		if err := lockUser(ctx, tx, c.UserID); err != nil {
			return err
		}
		if _, err := actingFor(ctx, tx, c.UserID); err != nil {
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
		ix, err := r.keys.Index(ctx, tx)
		if err != nil {
			return err
		}
		key, err := r.keys.CipherOrCreate(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('emergency_contacts', 'id'))`).Scan(&id); err != nil {
			return err
		}
		added, err = scanContact(tx.QueryRow(ctx, `
			INSERT INTO emergency_contacts (id, user_id, contact_name_enc, contact_phone_enc, contact_phone_bidx, relation, is_primary)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7)
			RETURNING `+contactColumns,
			id, c.UserID, key.Seal(c.Name, "emergency_contacts", "contact_name", id), key.Seal(c.Phone, "emergency_contacts", "contact_phone", id),
			ix.Of(phoneIndex, c.Phone), c.Relation, c.IsPrimary), key)
		if err != nil {
			return err
		}
		return r.outbox.Append(ctx, tx, contactEvent("contact.added", added, contactFields...))
	})
	if constraint, ok := pgpkg.UniqueViolation(err); ok && constraint == "emergency_contacts_user_phone_key" {
		return contacts.Contact{}, contacts.ErrDuplicatePhone
	}
	if errors.Is(err, contacts.ErrLimitReached) || errors.Is(err, contacts.ErrUnknownUser) || transit.IsUnavailable(err) {
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
		other, err := actingFor(ctx, tx, userID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+contactColumns+` FROM emergency_contacts
			WHERE user_id = $1 ORDER BY is_primary DESC, created_at, id`, userID)
		if err != nil {
			return err
		}
		raws, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rawContact, error) {
			var rc rawContact
			return rc, rc.scan(row)
		})
		if err != nil {
			return err
		}
		if len(raws) > 0 {
			key, err := r.keys.Cipher(ctx, tx, userID)
			if err != nil {
				return err
			}
			for _, rc := range raws {
				c, err := rc.decrypt(key)
				if err != nil {
					return err
				}
				list = append(list, c)
			}
		}
		if !other {
			return nil
		}
		return r.outbox.Append(ctx, tx, events.Event{Type: "contact.viewed", SubjectUserID: userID})
	})
	if errors.Is(err, contacts.ErrUnknownUser) || transit.IsUnavailable(err) {
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
		var raw rawContact
		if err := raw.scan(tx.QueryRow(ctx, `SELECT `+contactColumns+` FROM emergency_contacts
			WHERE id = $1 AND user_id = $2`, c.ID, c.UserID)); err != nil {
			return err
		}
		ix, err := r.keys.Index(ctx, tx)
		if err != nil {
			return err
		}
		key, err := r.keys.Cipher(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		before, err := raw.decrypt(key)
		if err != nil {
			return err
		}
		updated, err = scanContact(tx.QueryRow(ctx, `
			UPDATE emergency_contacts
			SET contact_name_enc = $3, contact_phone_enc = $4, contact_phone_bidx = $5, relation = NULLIF($6, ''),
				is_primary = $7, updated_at = now()
			WHERE id = $1 AND user_id = $2
			RETURNING `+contactColumns,
			c.ID, c.UserID, key.Seal(c.Name, "emergency_contacts", "contact_name", c.ID), key.Seal(c.Phone, "emergency_contacts", "contact_phone", c.ID),
			ix.Of(phoneIndex, c.Phone), c.Relation, c.IsPrimary), key)
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
	if transit.IsUnavailable(err) {
		return contacts.Contact{}, err
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

// rawContact is a row as stored: name and phone still encrypted.
type rawContact struct {
	c           contacts.Contact
	name, phone []byte
}

func (r *rawContact) scan(row pgx.Row) error {
	return row.Scan(&r.c.ID, &r.c.UserID, &r.name, &r.phone, &r.c.Relation, &r.c.IsPrimary, &r.c.CreatedAt, &r.c.UpdatedAt)
}

func (r rawContact) decrypt(key *pii.Cipher) (contacts.Contact, error) {
	c := r.c
	var err error
	if c.Name, err = key.Open(r.name, "emergency_contacts", "contact_name", c.ID); err != nil {
		return contacts.Contact{}, err
	}
	if c.Phone, err = key.Open(r.phone, "emergency_contacts", "contact_phone", c.ID); err != nil {
		return contacts.Contact{}, err
	}
	return c, nil
}

func scanContact(row pgx.Row, key *pii.Cipher) (contacts.Contact, error) {
	var r rawContact
	if err := r.scan(row); err != nil {
		return contacts.Contact{}, err
	}
	return r.decrypt(key)
}

// actingFor reports whether a staff caller acts for someone else, refusing users
// identity does not know.
func actingFor(ctx context.Context, tx pgx.Tx, userID int64) (bool, error) {
	other, known, err := events.ActingFor(ctx, tx, userID)
	if err == nil && !known {
		err = contacts.ErrUnknownUser
	}
	return other, err
}
