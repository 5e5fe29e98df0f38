package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/auth"
)

// Purposes name the narrow system operations that may see rows no caller owns;
// row-level security policies admit them by name. Ordinary requests have none.
const (
	PurposeNone     = ""
	PurposeRegister = "register" // creating a user before anyone is logged in
	PurposeLogin    = "login"    // OTP, token and refresh handling
	PurposeAdmin    = "admin"    // command-line administration (grant-role)
	PurposeSystem   = "system"   // event handling between services
)

// Tx runs fn in a transaction whose row-level security context is the caller in
// ctx (user id and roles, set with set_config(…, true) so it ends with the
// transaction) and purpose. Without a caller and a purpose, every policy sees
// zero rows.
func Tx(ctx context.Context, pool *pgxpool.Pool, purpose string, fn func(pgx.Tx) error) error {
	var userID, roles string
	if c, ok := auth.CallerFrom(ctx); ok {
		userID, roles = strconv.FormatInt(c.UserID, 10), strings.Join(c.Roles, ",")
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.user_id', $1, true), set_config('app.roles', $2, true),
			set_config('app.purpose', $3, true)`, userID, roles, purpose); err != nil {
			return err
		}
		return fn(tx)
	})
}

// SetPurpose changes the purpose of the transaction tx (opened by Tx) from here
// on, for a use case that must also reach rows only another purpose admits (an
// erasure removing the user's login codes and tokens).
func SetPurpose(ctx context.Context, tx pgx.Tx, purpose string) error {
	_, err := tx.Exec(ctx, `SELECT set_config('app.purpose', $1, true)`, purpose)
	return err
}

// rlsFunctions are the helpers every schema's policies are written with. Migrate
// (re)creates them in the schema, as its owner, before the schema's migrations.
const rlsFunctions = `
CREATE OR REPLACE FUNCTION app_user_id() RETURNS bigint LANGUAGE sql STABLE AS
	$$ SELECT nullif(current_setting('app.user_id', true), '')::bigint $$;
CREATE OR REPLACE FUNCTION app_has_role(VARIADIC wanted text[]) RETURNS boolean LANGUAGE sql STABLE AS
	$$ SELECT coalesce(string_to_array(nullif(current_setting('app.roles', true), ''), ',') && wanted, false) $$;
CREATE OR REPLACE FUNCTION app_purpose() RETURNS text LANGUAGE sql STABLE AS
	$$ SELECT coalesce(current_setting('app.purpose', true), '') $$;
`
