package testenv

import (
	"context"
	"io/fs"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/postgres"
	"amancair.dev/pkg/telemetry"
)

// MigratedPool provisions service's schema in a database of the test's own, applies
// migrations as the schema owner, and returns a pool connected as the serving role,
// closed when the test ends.
func MigratedPool(t testing.TB, service string, migrations fs.FS) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	db := Database(t)
	env := db.ServiceEnv(service)
	schema := postgres.Schema{Name: service, Owner: env["DB_OWNER_ROLE"], App: env["DB_APP_ROLE"], AppPassword: env["DB_APP_PASSWORD"]}
	tel := telemetry.Discard()
	if err := postgres.Provision(ctx, db.URL, schema); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := postgres.Migrate(ctx, db.URL, schema, migrations, tel.Logger); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := postgres.Open(ctx, env["DATABASE_URL"], service, tel)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}
