package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Provision creates the schema's roles and the schema itself if they are missing,
// and grants the app role exactly what serving needs: USAGE on the schema and DML on
// the tables and sequences the owner will create. It is idempotent, so every
// deployment may run it; adminURL needs CREATEROLE and CREATE on the database.
func Provision(ctx context.Context, adminURL string, s Schema) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as provisioner: %w", err)
	}
	defer conn.Close(ctx)

	owner := pgx.Identifier{s.Owner}.Sanitize()
	app := pgx.Identifier{s.App}.Sanitize()
	schema := pgx.Identifier{s.Name}.Sanitize()

	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Two services provisioning at once must not race on CREATE ROLE.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('amancair.provision'))`); err != nil {
			return err
		}
		for _, r := range []struct{ name, attrs string }{
			{s.Owner, "NOLOGIN"},
			{s.App, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"},
		} {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, r.name).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if _, err := tx.Exec(ctx, "CREATE ROLE "+pgx.Identifier{r.name}.Sanitize()+" "+r.attrs); err != nil {
					return fmt.Errorf("create role: %w", err)
				}
			}
		}
		if s.AppPassword != "" {
			var stmt string
			if err := tx.QueryRow(ctx, `SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)`, s.App, s.AppPassword).Scan(&stmt); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("set app role password: %w", err)
			}
		}
		for _, stmt := range []string{
			"GRANT " + owner + " TO CURRENT_USER",
			"CREATE SCHEMA IF NOT EXISTS " + schema + " AUTHORIZATION " + owner,
			"REVOKE ALL ON SCHEMA " + schema + " FROM PUBLIC",
			"GRANT USAGE ON SCHEMA " + schema + " TO " + app,
			"ALTER DEFAULT PRIVILEGES FOR ROLE " + owner + " IN SCHEMA " + schema + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + app,
			"ALTER DEFAULT PRIVILEGES FOR ROLE " + owner + " IN SCHEMA " + schema + " GRANT USAGE, SELECT ON SEQUENCES TO " + app,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("provision schema %s: %w", s.Name, err)
			}
		}
		return nil
	})
}

// Migrate applies the embedded migrations in fsys to the schema, connected through
// adminURL but acting as the schema's owner (SET ROLE), so every table belongs to
// the owner and the app role's default privileges apply. Concurrent runs wait on a
// session lock.
//
// shared holds idempotent SQL every schema gets before its own migrations (the
// outbox, say); the row-level security helpers are always included.
func Migrate(ctx context.Context, adminURL string, s Schema, fsys fs.FS, logger *slog.Logger, shared ...string) error {
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return fmt.Errorf("MIGRATE_DATABASE_URL is not a valid PostgreSQL connection string")
	}
	setRole := "SET ROLE " + pgx.Identifier{s.Owner}.Sanitize() + "; SET search_path TO " + pgx.Identifier{s.Name}.Sanitize()
	db := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, setRole)
		return err
	}))
	defer db.Close()
	for _, stmt := range append([]string{rlsFunctions}, shared...) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("shared schema objects: %w", err)
		}
	}
	if fsys == nil {
		return nil
	}
	return migrate(ctx, db, fsys, logger)
}

func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, logger *slog.Logger) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		logger.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration_ms", r.Duration.Milliseconds())
	}
	return nil
}

// AsOwner runs fn with statements executed as the schema's owner, through
// adminURL, for provisioning data that belongs with the schema (a key row).
func AsOwner(ctx context.Context, adminURL string, s Schema, fn func(exec func(context.Context, string, ...any) error) error) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET ROLE "+pgx.Identifier{s.Owner}.Sanitize()+"; SET search_path TO "+pgx.Identifier{s.Name}.Sanitize()); err != nil {
		return err
	}
	return fn(func(ctx context.Context, sql string, args ...any) error {
		_, err := conn.Exec(ctx, sql, args...)
		return err
	})
}

// MigrationFiles returns the "migrations" directory of an embedded tree, as
// goose expects it: each service embeds migrations/*.sql and passes it here.
func MigrationFiles(embedded fs.FS) fs.FS {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(err) // fs.Sub fails only for an invalid path, and this one is fixed
	}
	return sub
}
