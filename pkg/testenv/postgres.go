package testenv

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/pii"
	"amancair.dev/pkg/postgres"
	"amancair.dev/pkg/telemetry"
	"amancair.dev/pkg/transit"
)

// MigratedPool provisions service's schema in a database of the test's own, applies
// migrations as the schema owner (with the outbox, the key tables and shared),
// creates the service's "<service>-pii" transit key and blind-index key, and
// returns a pool connected as the serving role (closed when the test ends), the
// database's superuser URL and the service's keyring.
func MigratedPool(t testing.TB, service string, migrations fs.FS, shared ...string) (*pgxpool.Pool, string, *pii.Keyring) {
	t.Helper()
	ctx := context.Background()
	db := Database(t)
	env := db.ServiceEnv(service)
	schema := postgres.Schema{Name: service, Owner: env["DB_OWNER_ROLE"], App: env["DB_APP_ROLE"], AppPassword: env["DB_APP_PASSWORD"]}
	tel := telemetry.Discard()
	if err := postgres.Provision(ctx, db.URL, schema); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if err := postgres.Migrate(ctx, db.URL, schema, migrations, tel.Logger, append([]string{events.OutboxDDL, pii.KeysDDL}, shared...)...); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	vc, err := pii.NewVaultClient(env["VAULT_ADDR"], env["VAULT_TOKEN"])
	if err != nil {
		t.Fatal(err)
	}
	engine := transit.New(vc, env["TRANSIT_MOUNT"])
	if err := engine.EnsureKeys(ctx, transit.KeySpec{Name: service + "-pii", Type: "aes256-gcm96"}); err != nil {
		t.Fatal(err)
	}
	if err := postgres.AsOwner(ctx, db.URL, schema, func(exec func(context.Context, string, ...any) error) error {
		return pii.EnsureIndexKey(ctx, engine, service+"-pii", exec)
	}); err != nil {
		t.Fatal(err)
	}
	pool, err := postgres.Open(ctx, env["DATABASE_URL"], service, tel)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, db.URL, pii.NewKeyring(engine, service+"-pii", 100, time.Minute)
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
