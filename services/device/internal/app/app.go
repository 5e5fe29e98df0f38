// Package app wires the device service together and runs it.
package app

import (
	"context"
	"io"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/platform"
	pgpkg "amancair.dev/pkg/postgres"
	"amancair.dev/services/device/internal/device"
	"amancair.dev/services/device/internal/httpapi"
	"amancair.dev/services/device/internal/postgres"
)

// followUsers keeps the projection of identity's users and deletes an erased
// user's devices.
func followUsers(ctx context.Context, d *platform.Deps) error {
	u, err := events.NewUserEvents("device", d.Pool, d.NATS, d.Stream, d.EventsPrefix, systemTx, postgres.Eraser(d.Keyring), d.Logger)
	if err != nil {
		return err
	}
	return u.Run(ctx)
}

func systemTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgpkg.Tx(ctx, pool, pgpkg.PurposeSystem, fn)
}

// Run runs the device command in args (serve, migrate, version).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return platform.Run(ctx, platform.Service{
		Name:         "device",
		PIIKey:       "device-pii",
		Migrations:   postgres.Migrations(),
		Mapper:       httpapi.Problems,
		SharedSchema: []string{events.KnownUsersDDL},
		Mount: func(d *platform.Deps, app *fiber.App) error {
			return httpapi.Routes(app, device.NewService(postgres.NewDevices(d.Pool, d.Outbox, d.Keyring)), d.Auth)
		},
		Background: []func(context.Context, *platform.Deps) error{followUsers},
	}, args, getenv, stdout)
}
