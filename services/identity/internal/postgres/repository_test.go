package postgres_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"amancair.dev/pkg/testenv"
	"amancair.dev/services/identity/internal/identity"
	"amancair.dev/services/identity/internal/postgres"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestUsersRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.MigratedPool(t, "identity", postgres.Migrations())
	repo := postgres.NewUsers(pool)

	dob := time.Date(1990, 5, 12, 0, 0, 0, 0, time.UTC)
	reg := identity.Registration{Name: "Siti", Phone: "+628111222333", Email: "siti@example.com",
		DOB: &dob, Gender: "female", NationalID: "3201525205900001"}
	created, err := repo.Create(ctx, reg)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.ID <= 0 || created.Roles[0] != identity.RoleCustomer || created.PhoneVerified {
		t.Errorf("Create = %+v: want a positive id, role customer, phone not verified", created)
	}
	got, err := repo.Get(ctx, created.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Name != reg.Name || got.NationalID != reg.NationalID || !got.DOB.Equal(dob) || got.Gender != "female" {
		t.Errorf("Get = %+v, want the registration back", got)
	}
	if _, err := repo.Get(ctx, created.ID+1000); !errors.Is(err, identity.ErrNotFound) {
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
	pool := testenv.MigratedPool(t, "identity", postgres.Migrations())
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
