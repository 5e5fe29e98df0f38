// Package app wires the identity service together and runs it.
package app

import (
	"context"
	"io"
	"time"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/platform"
	"amancair.dev/services/identity/internal/httpapi"
	"amancair.dev/services/identity/internal/identity"
	"amancair.dev/services/identity/internal/postgres"
)

// Run runs the identity command in args (serve, migrate, version).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return platform.Run(ctx, platform.Service{
		Name:       "identity",
		Migrations: postgres.Migrations(),
		Mapper:     httpapi.Problems,
		Mount: func(d *platform.Deps, app *fiber.App) error {
			users := identity.NewService(postgres.NewUsers(d.Pool), time.Now)
			return httpapi.Routes(app, users)
		},
	}, args, getenv, stdout)
}
