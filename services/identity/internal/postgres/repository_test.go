package postgres_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/events"
	"amancair.dev/pkg/testenv"
	"amancair.dev/services/identity/internal/identity"
	"amancair.dev/services/identity/internal/postgres"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestUsersRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _, keys := testenv.MigratedPool(t, "identity", postgres.Migrations())
	repo := postgres.NewUsers(pool, events.NewOutbox("identity", "test"), keys)

	dob := time.Date(1990, 5, 12, 0, 0, 0, 0, time.UTC)
	reg := identity.Registration{Name: "Siti", Phone: "+628111222333", Email: "siti@example.com",
		DOB: &dob, Gender: "female", NationalID: "3201525205900001"}
	created, err := repo.Create(ctx, reg)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.ID <= 0 || created.Roles[0] != auth.RoleCustomer || created.PhoneVerified {
		t.Errorf("Create = %+v: want a positive id, role customer, phone not verified", created)
	}
	owner := auth.WithCaller(ctx, auth.Caller{UserID: created.ID, Roles: []string{auth.RoleCustomer}})
	got, err := repo.Get(owner, created.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Name != reg.Name || got.NationalID != reg.NationalID || !got.DOB.Equal(dob) || got.Gender != "female" {
		t.Errorf("Get = %+v, want the registration back", got)
	}
	if _, err := repo.Get(owner, created.ID+1000); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("Get(unknown) error = %v, want ErrNotFound", err)
	}

	conflicts := []struct {
		name string
		reg  identity.Registration
		want error
	}{
		{"phone", identity.Registration{Name: "X", Phone: reg.Phone, Email: "x1@example.com"}, identity.ErrPhoneTaken},
		{"email", identity.Registration{Name: "X", Phone: "+628111222334", Email: reg.Email}, identity.ErrEmailTaken},
		{"national id", identity.Registration{Name: "X", Phone: "+628111222335", Email: "x3@example.com", NationalID: reg.NationalID}, identity.ErrNationalIDTaken},
	}
	for _, tt := range conflicts {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := repo.Create(ctx, tt.reg); !errors.Is(err, tt.want) {
				t.Errorf("Create error = %v, want %v", err, tt.want)
			}
		})
	}
}

// The serving role owns nothing: it can use the tables but not change the schema.
func TestServingRoleCannotChangeSchema(t *testing.T) {
	t.Parallel()
	pool, _, _ := testenv.MigratedPool(t, "identity", postgres.Migrations())
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE TABLE identity.intruder (id int)`,
		`ALTER TABLE users ADD COLUMN x int`,
		`DROP TABLE users`,
		`TRUNCATE users`,
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil {
			t.Errorf("serving role could run %q", stmt)
		}
	}
	var bypass, super bool
	if err := pool.QueryRow(ctx, `SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&bypass, &super); err != nil {
		t.Fatal(err)
	}
	if bypass || super {
		t.Errorf("serving role has BYPASSRLS=%v SUPERUSER=%v", bypass, super)
	}
}

// Row-level security holds even for the serving role querying directly: without a
// caller context it sees no user, with one it sees only that caller's row.
func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _, keys := testenv.MigratedPool(t, "identity", postgres.Migrations())
	repo := postgres.NewUsers(pool, events.NewOutbox("identity", "test"), keys)
	a, err := repo.Create(ctx, identity.Registration{Name: "A", Phone: "+628121111111", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Create(ctx, identity.Registration{Name: "B", Phone: "+628122222222", Email: "b@example.com"}); err != nil {
		t.Fatal(err)
	}
	count := func(settings ...string) int {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		for i := 0; i+1 < len(settings); i += 2 {
			if _, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, settings[i], settings[i+1]); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Errorf("without caller context the serving role sees %d users, want 0", n)
	}
	if n := count("app.user_id", strconv.FormatInt(a.ID, 10), "app.roles", "customer"); n != 1 {
		t.Errorf("as user A the serving role sees %d users, want 1", n)
	}
	if n := count("app.user_id", strconv.FormatInt(a.ID, 10), "app.roles", "auditor"); n != 1 {
		t.Errorf("as an auditor the serving role sees %d users, want only its own", n)
	}
	if n := count("app.user_id", "1", "app.roles", "ops"); n != 2 {
		t.Errorf("as ops the serving role sees %d users, want 2", n)
	}
	for _, table := range []string{"otp_codes", "refresh_tokens", "rate_limit_hits"} {
		var forced bool
		if err := pool.QueryRow(ctx, `SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE relname = $1`, table).Scan(&forced); err != nil || !forced {
			t.Errorf("%s: row-level security enabled and forced = %v (%v)", table, forced, err)
		}
	}
}
