// Package postgres opens the connection pool every service serves from, provisions
// a service's schema and roles, runs its embedded goose migrations as the schema's
// owner, and classifies driver errors for the layers above.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/config"
	"amancair.dev/pkg/telemetry"
)

// Schema names a service's schema and the two roles around it: Owner owns the
// schema and every object in it and is used only to migrate; App is the login role
// requests are served as, which owns nothing and cannot bypass row-level security.
type Schema struct {
	Name        string
	Owner       string
	App         string
	AppPassword string
}

// SchemaFromEnv reads DB_SCHEMA, DB_OWNER_ROLE, DB_APP_ROLE and DB_APP_PASSWORD,
// defaulting to <service>, <service>_owner and <service>_app.
func SchemaFromEnv(env *config.Env, service string) Schema {
	return Schema{
		Name:        env.String("DB_SCHEMA", service),
		Owner:       env.String("DB_OWNER_ROLE", service+"_owner"),
		App:         env.String("DB_APP_ROLE", service+"_app"),
		AppPassword: env.Lookup("DB_APP_PASSWORD"),
	}
}

// Open connects a pool to url with the schema on the search path, traced by otelpgx
// (statements without their parameters, which may hold personal data) and with pool
// statistics exported as metrics.
func Open(ctx context.Context, url, schema string, tel *telemetry.Telemetry) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("DATABASE_URL is not a valid PostgreSQL connection string")
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = schema
	cfg.ConnConfig.Tracer = otelpgx.NewTracer(
		otelpgx.WithTracerProvider(tel.TracerProvider),
		otelpgx.WithMeterProvider(tel.MeterProvider),
		otelpgx.WithTrimSQLInSpanName(),
	)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	if err := otelpgx.RecordStats(pool, otelpgx.WithStatsMeterProvider(tel.MeterProvider)); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres pool metrics: %w", err)
	}
	return pool, nil
}

// IsUnavailable reports whether err means the database could not be reached or
// refused work for now, as opposed to rejecting the statement.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") ||
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}

// UniqueViolation returns the name of the unique constraint err violated.
func UniqueViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	return "", false
}
