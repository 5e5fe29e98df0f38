package postgres_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/events"
	"amancair.dev/pkg/testenv"
	"amancair.dev/services/device/internal/device"
	"amancair.dev/services/device/internal/postgres"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestDevicesRepository(t *testing.T) {
	t.Parallel()
	pool, adminURL, keys := testenv.MigratedPool(t, "device", postgres.Migrations(), events.KnownUsersDDL)
	repo := postgres.NewDevices(pool, events.NewOutbox("device", "test"), keys)
	as := func(id int64, roles ...string) context.Context {
		return auth.WithCaller(context.Background(), auth.Caller{UserID: id, Roles: append(roles, auth.RoleCustomer)})
	}

	d, created, err := repo.Register(as(1), device.Registration{UserID: 1, IMEI: "356938035643809", AndroidID: "9774d56d682e549c"})
	if err != nil || !created || d.ID <= 0 {
		t.Fatalf("Register = %+v, %v, %v", d, created, err)
	}
	again, created, err := repo.Register(as(1), device.Registration{UserID: 1, AndroidID: "9774d56d682e549c"})
	if err != nil || created || again.ID != d.ID {
		t.Errorf("same android_id again = %+v, created %v, %v; want the first device", again, created, err)
	}
	if _, _, err := repo.Register(as(2), device.Registration{UserID: 2, IMEI: "356938035643809"}); !errors.Is(err, device.ErrIMEITaken) {
		t.Errorf("another user's IMEI: %v, want ErrIMEITaken", err)
	}
	// The database refuses a row for another user even if the domain let it through.
	if _, _, err := repo.Register(as(2), device.Registration{UserID: 1, AndroidID: "1111111111111111"}); err == nil {
		t.Error("row-level security let user 2 write a device for user 1")
	}
	if list, err := repo.List(as(2), 1); len(list) != 0 {
		t.Errorf("user 2 listing user 1's devices through the database = %v, %v; want none", list, err)
	}
	if _, err := repo.List(as(9, auth.RoleOps), 1); !errors.Is(err, device.ErrUnknownUser) {
		t.Errorf("ops listing the devices of a user identity never announced: %v, want ErrUnknownUser", err)
	}
	testenv.AssertHiddenWithoutCaller(t, pool, adminURL, "device.devices")
}
