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

// Users implements identity.Repository.
type Users struct{ pool *pgxpool.Pool }

// NewUsers returns the repository over pool.
func NewUsers(pool *pgxpool.Pool) *Users { return &Users{pool: pool} }

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
		return err
	})
	if err != nil {
		return identity.User{}, translate(err, "insert user")
	}
	return user, nil
}

// Get returns the user with id, if the caller may see it.
func (u *Users) Get(ctx context.Context, id int64) (identity.User, error) {
	var user identity.User
	err := pgpkg.Tx(ctx, u.pool, pgpkg.PurposeNone, func(tx pgx.Tx) error {
		var err error
		user, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
		return err
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
		return err
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
		return err
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
