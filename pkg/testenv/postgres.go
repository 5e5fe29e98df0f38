package testenv

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/postgres"
	"amancair.dev/pkg/telemetry"
)

// MigratedPool provisions service's schema in a database of the test's own, applies
// migrations as the schema owner, and returns a pool connected as the serving role,
// closed when the test ends, and the database's superuser URL.
func MigratedPool(t testing.TB, service string, migrations fs.FS, shared ...string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	db := Database(t)
	env := db.ServiceEnv(service)
	schema := postgres.Schema{Name: service, Owner: env["DB_OWNER_ROLE"], App: env["DB_APP_ROLE"], AppPassword: env["DB_APP_PASSWORD"]}
	tel := telemetry.Discard()
	if err := postgres.Provision(ctx, db.URL, schema); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := postgres.Migrate(ctx, db.URL, schema, migrations, tel.Logger, append([]string{events.OutboxDDL}, shared...)...); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := postgres.Open(ctx, env["DATABASE_URL"], service, tel)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, db.URL
}

// AssertHiddenWithoutCaller checks that table has row-level security enabled and
// forced, and that the serving role, querying directly without a caller context,
// sees none of its rows although there are some.
func AssertHiddenWithoutCaller(t testing.TB, pool *pgxpool.Pool, adminURL, table string) {
	t.Helper()
	ctx := context.Background()
	var forced bool
	if err := pool.QueryRow(ctx, `SELECT relrowsecurity AND relforcerowsecurity FROM pg_class
		WHERE oid = to_regclass($1)`, table).Scan(&forced); err != nil || !forced {
		t.Errorf("%s: row-level security enabled and forced = %v (%v)", table, forced, err)
	}
	var seen, total int
	qualified := pgx.Identifier(strings.SplitN(table, ".", 2)).Sanitize()
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+qualified).Scan(&seen); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM `+qualified).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total == 0 || seen != 0 {
		t.Errorf("%s: the serving role without a caller sees %d of %d rows; want 0 of some", table, seen, total)
	}
}
