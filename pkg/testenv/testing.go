package testenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Servers are the shared servers of one test binary.
type Servers struct {
	// PostgresURL connects as a superuser to the maintenance database.
	PostgresURL string
	NATSURL     string
	VaultAddr   string
	VaultToken  string
}

var shared struct {
	once    sync.Once
	servers Servers
	err     error
	stops   []Stop
}

// Main runs the package's tests and then stops whatever servers they started.
// Use it as: func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	for i := len(shared.stops) - 1; i >= 0; i-- {
		shared.stops[i]()
	}
	return code
}

// logSink is where started servers write; quiet unless TESTENV_VERBOSE is set.
func logSink() io.Writer {
	if os.Getenv("TESTENV_VERBOSE") != "" {
		return os.Stderr
	}
	return io.Discard
}

// Shared returns the test binary's servers, finding or starting them on first use:
// PostgreSQL at TEST_DATABASE_URL (default the local one on 127.0.0.1:5432), NATS
// at TEST_NATS_URL (default 127.0.0.1:4222), and a Vault dev server of its own unless
// TEST_VAULT_ADDR and TEST_VAULT_TOKEN name one.
func Shared(t testing.TB) Servers {
	t.Helper()
	shared.once.Do(func() {
		ctx := context.Background()
		logw := logSink()
		pgURL := envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		var stop Stop
		var s Servers
		if s.PostgresURL, stop, shared.err = Postgres(ctx, pgURL, "postgres", logw); shared.err != nil {
			return
		}
		shared.stops = append(shared.stops, stop)
		if s.NATSURL, stop, shared.err = NATS(ctx, envOr("TEST_NATS_URL", "nats://127.0.0.1:4222"), false, logw); shared.err != nil {
			return
		}
		shared.stops = append(shared.stops, stop)
		if s.VaultAddr, s.VaultToken, stop, shared.err = Vault(ctx, os.Getenv("TEST_VAULT_ADDR"), os.Getenv("TEST_VAULT_TOKEN"), logw); shared.err != nil {
			return
		}
		shared.stops = append(shared.stops, stop)
		shared.servers = s
	})
	if shared.err != nil {
		t.Fatalf("testenv: %v", shared.err)
	}
	return shared.servers
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// DB is a database of one test's own, with a Vault transit mount of its own.
type DB struct {
	t testing.TB
	// URL connects to it as a superuser.
	URL   string
	roles []string
	// TransitMount is the test's own transit engine, so key rotations in one test
	// never touch another's keys.
	TransitMount string
	id           string
}

// Database creates a database of the test's own and returns it. When the test ends
// the database is dropped, and then the roles ServiceEnv made for it.
func Database(t testing.TB) *DB {
	t.Helper()
	s := Shared(t)
	id := RandomID(6)
	name := "amc_test_" + id
	if err := CreateDatabase(context.Background(), s.PostgresURL, name); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	db := &DB{t: t, URL: WithDatabase(s.PostgresURL, name), TransitMount: "transit-" + name, id: id}
	if err := vaultRequest(context.Background(), s.VaultAddr, s.VaultToken, "POST", "/v1/sys/mounts/"+db.TransitMount, `{"type":"transit"}`); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		DeleteStream(s.NATSURL, "T"+strings.ToUpper(id))
		_ = vaultRequest(context.Background(), s.VaultAddr, s.VaultToken, "DELETE", "/v1/sys/mounts/"+db.TransitMount, "")
		execSQL(t, s.PostgresURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		for _, r := range db.roles {
			execSQL(t, s.PostgresURL, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize())
		}
	})
	return db
}

// ServiceEnv returns the environment a service needs to migrate and serve against
// the database, with role names of this test's own (roles are global to the
// PostgreSQL cluster).
func (db *DB) ServiceEnv(service string) map[string]string {
	s := Shared(db.t)
	prefix := "amc_" + RandomID(4) + "_"
	owner, app, password := prefix+service+"_owner", prefix+service+"_app", RandomID(12)
	db.roles = append(db.roles, app, owner)
	return map[string]string{
		"MIGRATE_DATABASE_URL": db.URL,
		"DATABASE_URL":         WithUser(db.URL, app, password),
		"DB_OWNER_ROLE":        owner,
		"DB_APP_ROLE":          app,
		"DB_APP_PASSWORD":      password,
		"NATS_URL":             s.NATSURL,
		"VAULT_ADDR":           s.VaultAddr,
		"VAULT_TOKEN":          s.VaultToken,
		"TRANSIT_MOUNT":        db.TransitMount,
		"EVENTS_PREFIX":        "t" + db.id,
		"EVENTS_STREAM":        "T" + strings.ToUpper(db.id),
		"LOG_LEVEL":            "warn",
	}
}

func execSQL(t testing.TB, url, stmt string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("testenv cleanup: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil && !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("testenv cleanup %q: %v", stmt, fmt.Sprint(err))
	}
}

// Getenv turns a map into the getenv function app.Run takes.
func Getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
