// Package app wires the device service together and runs it.
package app

import (
	"context"
	"io"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/platform"
	"amancair.dev/services/device/internal/device"
	"amancair.dev/services/device/internal/httpapi"
	"amancair.dev/services/device/internal/postgres"
)

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
		Background: []func(context.Context, *platform.Deps) error{platform.FollowUsers("devices", "device.user")},
	}, args, getenv, stdout)
}
