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
	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/services/identity/internal/identity"
)

// Migrations are the schema's goose migrations.
//
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

// Users implements identity.Repository; every change writes its event to the
// outbox in the same transaction.
type Users struct {
	pool   *pgxpool.Pool
	outbox *events.Outbox
}

// NewUsers returns the repository over pool, writing events to outbox.
func NewUsers(pool *pgxpool.Pool, outbox *events.Outbox) *Users {
	return &Users{pool: pool, outbox: outbox}
}

const userColumns = `id, name, phone, email, dob, gender, national_id, phone_verified, roles, created_at, updated_at`

// Create inserts a customer.
func (u *Users) Create(ctx context.Context, r identity.Registration) (identity.User, error) {
	var user identity.User
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeRegister, func(tx pgx.Tx) error {
		var err error
		user, err = scanUser(tx.QueryRow(ctx, `
			INSERT INTO users (name, phone, email, dob, gender, national_id)
			VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''))
			RETURNING `+userColumns,
			r.Name, r.Phone, r.Email, r.DOB, r.Gender, r.NationalID))
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

// Get returns the user with id, if the caller may see it; a staff member's read
// of someone else is recorded as user.viewed.
func (u *Users) Get(ctx context.Context, id int64) (identity.User, error) {
	var user identity.User
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		var err error
		user, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
		if err != nil {
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

// Update applies change to user id under a row lock.
func (u *Users) Update(ctx context.Context, id int64, change func(identity.User) (identity.User, error)) (identity.User, error) {
	var user identity.User
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		current, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		changed, err := change(current)
		if err != nil {
			return err
		}
		user, err = scanUser(tx.QueryRow(ctx, `
			UPDATE users SET name = $2, email = $3, dob = $4, gender = NULLIF($5, ''), national_id = NULLIF($6, ''),
				updated_at = now()
			WHERE id = $1
			RETURNING `+userColumns,
			id, changed.Name, changed.Email, changed.DOB, changed.Gender, changed.NationalID))
		if err != nil {
			return err
		}
		if fields := changedFields(current, user); len(fields) > 0 {
			return u.outbox.Append(ctx, tx, events.Event{Type: "user.updated", SubjectUserID: id, Fields: fields})
		}
		return nil
	})
	if err != nil {
		return identity.User{}, translate(err, "update user")
	}
	return user, nil
}

// GrantRole adds role to the user with phone; for the command line.
func (u *Users) GrantRole(ctx context.Context, phone, role string) (identity.User, error) {
	var user identity.User
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeAdmin, func(tx pgx.Tx) error {
		var err error
		user, err = scanUser(tx.QueryRow(ctx, `
			UPDATE users SET roles = CASE WHEN $2 = ANY(roles) THEN roles ELSE roles || $2 END, updated_at = now()
			WHERE phone = $1
			RETURNING `+userColumns, phone, role))
		if err != nil {
			return err
		}
		return u.outbox.Append(ctx, tx, events.Event{Type: "role.granted", SubjectUserID: user.ID, Fields: []string{"roles"},
			Attrs: map[string]string{"role": role}})
	})
	if err != nil {
		return identity.User{}, translate(err, "grant role")
	}
	return user, nil
}

// translate maps driver errors to the domain's: no row is ErrNotFound, unique
// violations are the matching conflict. Domain errors pass through.
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
		return err // a domain error from a change function
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
	if (before.DOB == nil) != (after.DOB == nil) || before.DOB != nil && !before.DOB.Equal(*after.DOB) {
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

func scanUser(row pgx.Row) (identity.User, error) {
	var (
		user               identity.User
		dob                *time.Time
		gender, nationalID *string
	)
	err := row.Scan(&user.ID, &user.Name, &user.Phone, &user.Email, &dob, &gender, &nationalID,
		&user.PhoneVerified, &user.Roles, &user.CreatedAt, &user.UpdatedAt)
	if err != nil {
		return identity.User{}, err
	}
	user.DOB = dob
	if gender != nil {
		user.Gender = *gender
	}
	if nationalID != nil {
		user.NationalID = *nationalID
	}
	return user, nil
}
