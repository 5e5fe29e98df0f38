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
	row := u.pool.QueryRow(ctx, `
		INSERT INTO users (name, phone, email, dob, gender, national_id)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''))
		RETURNING `+userColumns,
		r.Name, r.Phone, r.Email, r.DOB, r.Gender, r.NationalID)
	user, err := scanUser(row)
	if constraint, ok := pgpkg.UniqueViolation(err); ok {
		switch constraint {
		case "users_phone_key":
			return identity.User{}, identity.ErrPhoneTaken
		case "users_email_key":
			return identity.User{}, identity.ErrEmailTaken
		case "users_national_id_key":
			return identity.User{}, identity.ErrNationalIDTaken
		}
	}
	if err != nil {
		return identity.User{}, fmt.Errorf("insert user: %w", err)
	}
	return user, nil
}

// Get returns the user with id.
func (u *Users) Get(ctx context.Context, id int64) (identity.User, error) {
	user, err := scanUser(u.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.User{}, identity.ErrNotFound
	}
	if err != nil {
		return identity.User{}, fmt.Errorf("select user: %w", err)
	}
	return user, nil
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
