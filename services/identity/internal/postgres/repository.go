// Package postgres stores identity's users in its PostgreSQL schema.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/events"
	"amancair.dev/pkg/pii"
	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/services/identity/internal/identity"
)

// Migrations are the schema's goose migrations.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the schema's goose migrations.
func Migrations() fs.FS { return pgpkg.MigrationFiles(migrations) }

// Users implements identity.Repository. Personal fields are stored encrypted
// under the user's data key and found through blind indexes; every change writes
// its event to the outbox in the same transaction.
type Users struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
	keys   *pii.Keyring
}

// NewUsers returns the repository over pool, encrypting with keys and writing
// events to outbox.
func NewUsers(pool *pgxpool.Pool, outbox *events.Outbox, keys *pii.Keyring) *Users {
	return &Users{pool: pool, outbox: outbox, keys: keys}
}

const userColumns = `id, name_enc, phone_enc, email_enc, dob_enc, coalesce(gender, ''), national_id_enc,
	phone_verified, roles, created_at, updated_at`

// Blind-index purposes: the same phone in another column hashes differently.
const (
	phoneIndex      = "users.phone"
	emailIndex      = "users.email"
	nationalIDIndex = "users.national_id"
)

// Create inserts a customer. The data key is made in Vault before the
// transaction, so a Vault outage writes nothing.
func (u *Users) Create(ctx context.Context, r identity.Registration) (identity.User, error) {
	key, err := u.keys.Generate(ctx)
	if err != nil {
		return identity.User{}, err
	}
	var user identity.User
	err = pgpkg.Tx(ctx, u.pool, pgpkg.PurposeRegister, func(tx pgx.Tx) error {
		ix, err := u.keys.Index(ctx, tx)
		if err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('users', 'id'))`).Scan(&id); err != nil {
			return err
		}
		c, err := u.keys.Store(ctx, tx, id, key)
		if err != nil {
			return err
		}
		user, err = scanUser(tx.QueryRow(ctx, `
			INSERT INTO users (id, name_enc, phone_enc, email_enc, dob_enc, gender, national_id_enc,
				phone_bidx, email_bidx, national_id_bidx)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9, $10)
			RETURNING `+userColumns,
			id, c.Seal(r.Name, "users", "name", id), c.Seal(r.Phone, "users", "phone", id), c.Seal(r.Email, "users", "email", id),
			c.Seal(dateString(r.DOB), "users", "dob", id), r.Gender, c.Seal(r.NationalID, "users", "national_id", id),
			ix.Of(phoneIndex, r.Phone), ix.Of(emailIndex, r.Email), ix.Of(nationalIDIndex, r.NationalID)), c)
		if err != nil {
			return err
		}
		return u.outbox.Append(ctx, tx, events.Event{Type: "user.created", SubjectUserID: user.ID, Fields: presentFields(user)})
	})
	if err != nil {
		return identity.User{}, translate(err, "insert user")
	}
	return user, nil
}

// get reads and decrypts user id in tx; erased users do not exist.
func (u *Users) get(ctx context.Context, tx pgx.Tx, id int64, lock bool) (identity.User, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE id = $1 AND erased_at IS NULL`
	if lock {
		q += ` FOR UPDATE`
	}
	row := tx.QueryRow(ctx, q, id)
	var raw rawUser
	if err := raw.scan(row); err != nil {
		return identity.User{}, err
	}
	c, err := u.keys.Cipher(ctx, tx, id)
	if err != nil {
		return identity.User{}, err
	}
	return raw.decrypt(c)
}

// Get returns the user with id, if the caller may see it; a staff member's read
// of someone else is recorded as user.viewed.
func (u *Users) Get(ctx context.Context, id int64) (identity.User, error) {
	var user identity.User
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		var err error
		if user, err = u.get(ctx, tx, id, false); err != nil {
			return err
		}
		if c, ok := auth.CallerFrom(ctx); ok && c.UserID != id {
			return u.outbox.Append(ctx, tx, events.Event{Type: "user.viewed", SubjectUserID: id})
		}
		return nil
	})
	if err != nil {
		return identity.User{}, translate(err, "select user")
	}
	return user, nil
}

// Exported records that the user's data was exported.
func (u *Users) Exported(ctx context.Context, id int64) error {
	return pgpkg.Tx(ctx, u.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		return u.outbox.Append(ctx, tx, events.Event{Type: "user.exported", SubjectUserID: id})
	})
}

// Update applies change to user id under a row lock.
func (u *Users) Update(ctx context.Context, id int64, change func(identity.User) (identity.User, error)) (identity.User, error) {
	var user identity.User
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		current, err := u.get(ctx, tx, id, true)
		if err != nil {
			return err
		}
		changed, err := change(current)
		if err != nil {
			return err
		}
		ix, err := u.keys.Index(ctx, tx)
		if err != nil {
			return err
		}
		c, err := u.keys.Cipher(ctx, tx, id)
		if err != nil {
			return err
		}
		user, err = scanUser(tx.QueryRow(ctx, `
			UPDATE users SET name_enc = $2, email_enc = $3, dob_enc = $4, gender = NULLIF($5, ''), national_id_enc = $6,
				email_bidx = $7, national_id_bidx = $8, updated_at = now()
			WHERE id = $1
			RETURNING `+userColumns,
			id, c.Seal(changed.Name, "users", "name", id), c.Seal(changed.Email, "users", "email", id),
			c.Seal(dateString(changed.DOB), "users", "dob", id), changed.Gender, c.Seal(changed.NationalID, "users", "national_id", id),
			ix.Of(emailIndex, changed.Email), ix.Of(nationalIDIndex, changed.NationalID)), c)
		if err != nil {
			return err
		}
		if fields := changedFields(current, user); len(fields) > 0 {
			return u.outbox.Append(ctx, tx, events.Event{Type: "user.updated", SubjectUserID: id, Fields: fields})
		}
		if c, ok := auth.CallerFrom(ctx); ok && c.UserID != id {
			// An admin's change that changed nothing still showed them the user.
			return u.outbox.Append(ctx, tx, events.Event{Type: "user.viewed", SubjectUserID: id})
		}
		return nil
	})
	if err != nil {
		return identity.User{}, translate(err, "update user")
	}
	return user, nil
}

// Erase crypto-shreds user id: its data key is destroyed, so every value
// encrypted for it is unreadable in this database (backups taken before keep the
// wrapped key: docs/key-rotation.md); its blind indexes, codes and refresh tokens
// go, and the row stays only as a tombstone.
func (u *Users) Erase(ctx context.Context, id int64) error {
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		var found int64
		if err := tx.QueryRow(ctx, `SELECT id FROM users WHERE id = $1 AND erased_at IS NULL FOR UPDATE`, id).Scan(&found); err != nil {
			return err
		}
		if err := u.keys.Destroy(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET erased_at = now(), phone_bidx = NULL, email_bidx = NULL,
			national_id_bidx = NULL, gender = NULL, roles = '{}', phone_verified = false, updated_at = now()
			WHERE id = $1`, id); err != nil {
			return err
		}
		// Codes and refresh tokens are visible only to the login purpose; the
		// rest of this transaction acts as login to remove them.
		if err := pgpkg.SetPurpose(ctx, tx, pgpkg.PurposeLogin); err != nil {
			return err
		}
		for _, stmt := range []string{
			`DELETE FROM otp_codes WHERE user_id = $1`,
			`DELETE FROM refresh_tokens WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, stmt, id); err != nil {
				return err
			}
		}
		return u.outbox.Append(ctx, tx, events.Event{Type: "user.erased", SubjectUserID: id})
	})
	u.keys.Forget(id)
	if err != nil {
		return translate(err, "erase user")
	}
	return nil
}

// GrantRole adds role to the user with phone; for the command line.
func (u *Users) GrantRole(ctx context.Context, phone, role string) (int64, []string, error) {
	var (
		id    int64
		roles []string
	)
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeAdmin, func(tx pgx.Tx) error {
		ix, err := u.keys.Index(ctx, tx)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `
			UPDATE users SET roles = CASE WHEN $2 = ANY(roles) THEN roles ELSE roles || $2 END, updated_at = now()
			WHERE phone_bidx = $1 AND erased_at IS NULL
			RETURNING id, roles`, ix.Of(phoneIndex, phone), role).Scan(&id, &roles); err != nil {
			return err
		}
		return u.outbox.Append(ctx, tx, events.Event{Type: "role.granted", SubjectUserID: id, Fields: []string{"roles"},
			Attrs: map[string]string{"role": role}})
	})
	if err != nil {
		return 0, nil, translate(err, "grant role")
	}
	return id, roles, nil
}

// RevokeRole takes role from the user with phone and revokes the user's refresh
// tokens, so the role is gone from every session within an access token's life.
func (u *Users) RevokeRole(ctx context.Context, phone, role string) (int64, []string, error) {
	var (
		id    int64
		roles []string
	)
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeAdmin, func(tx pgx.Tx) error {
		ix, err := u.keys.Index(ctx, tx)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `
			UPDATE users SET roles = array_remove(roles, $2), updated_at = now()
			WHERE phone_bidx = $1 AND erased_at IS NULL
			RETURNING id, roles`, ix.Of(phoneIndex, phone), role).Scan(&id, &roles); err != nil {
			return err
		}
		// Refresh tokens are visible only to the login purpose.
		if err := pgpkg.SetPurpose(ctx, tx, pgpkg.PurposeLogin); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id); err != nil {
			return err
		}
		return u.outbox.Append(ctx, tx, events.Event{Type: "role.revoked", SubjectUserID: id, Fields: []string{"roles"},
			Attrs: map[string]string{"role": role}})
	})
	if err != nil {
		return 0, nil, translate(err, "revoke role")
	}
	return id, roles, nil
}

// translate maps driver errors to the domain's: no row is ErrNotFound, unique
// violations are the matching conflict. Domain and dependency errors pass through.
func translate(err error, op string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.ErrNotFound
	}
	if constraint, ok := pgpkg.UniqueViolation(err); ok {
		switch constraint {
		case "users_phone_key":
			return identity.ErrPhoneTaken
		case "users_email_key":
			return identity.ErrEmailTaken
		case "users_national_id_key":
			return identity.ErrNationalIDTaken
		}
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) && !pgpkg.IsUnavailable(err) {
		return err // a domain error from a change function, or Vault's
	}
	return fmt.Errorf("%s: %w", op, err)
}

// presentFields names the personal fields a new user has.
func presentFields(u identity.User) []string {
	fields := []string{"name", "phone", "email"}
	if u.DOB != nil {
		fields = append(fields, "dob")
	}
	if u.Gender != "" {
		fields = append(fields, "gender")
	}
	if u.NationalID != "" {
		fields = append(fields, "national_id")
	}
	return fields
}

// changedFields names the fields that differ between before and after.
func changedFields(before, after identity.User) []string {
	var fields []string
	if before.Name != after.Name {
		fields = append(fields, "name")
	}
	if before.Email != after.Email {
		fields = append(fields, "email")
	}
	if dateString(before.DOB) != dateString(after.DOB) {
		fields = append(fields, "dob")
	}
	if before.Gender != after.Gender {
		fields = append(fields, "gender")
	}
	if before.NationalID != after.NationalID {
		fields = append(fields, "national_id")
	}
	return fields
}

func dateString(d *time.Time) string {
	if d == nil {
		return ""
	}
	return d.Format(time.DateOnly)
}

// rawUser is a users row as stored: personal fields still encrypted.
type rawUser struct {
	id                                  int64
	name, phone, email, dob, nationalID []byte
	gender                              string
	phoneVerified                       bool
	roles                               []string
	createdAt, updatedAt                time.Time
}

func (r *rawUser) scan(row pgx.Row) error {
	return row.Scan(&r.id, &r.name, &r.phone, &r.email, &r.dob, &r.gender, &r.nationalID,
		&r.phoneVerified, &r.roles, &r.createdAt, &r.updatedAt)
}

func (r rawUser) decrypt(c *pii.Cipher) (identity.User, error) {
	u := identity.User{ID: r.id, Gender: r.gender, PhoneVerified: r.phoneVerified, Roles: r.roles, CreatedAt: r.createdAt, UpdatedAt: r.updatedAt}
	var dob string
	for _, f := range []struct {
		ct     []byte
		column string
		dst    *string
	}{{r.name, "name", &u.Name}, {r.phone, "phone", &u.Phone}, {r.email, "email", &u.Email}, {r.dob, "dob", &dob}, {r.nationalID, "national_id", &u.NationalID}} {
		v, err := c.Open(f.ct, "users", f.column, r.id)
		if err != nil {
			return identity.User{}, fmt.Errorf("users.%s of %d: %w", f.column, r.id, err)
		}
		*f.dst = v
	}
	if dob != "" {
		d, err := time.Parse(time.DateOnly, dob)
		if err != nil {
			return identity.User{}, err
		}
		u.DOB = &d
	}
	return u, nil
}

// scanUser reads a users row and decrypts it with c.
func scanUser(row pgx.Row, c *pii.Cipher) (identity.User, error) {
	var raw rawUser
	if err := raw.scan(row); err != nil {
		return identity.User{}, err
	}
	return raw.decrypt(c)
}
