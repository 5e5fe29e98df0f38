// Package app wires the audit service together and runs it.
package app

import (
	"context"
	"io"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/platform"
	"amancair.dev/services/audit/internal/httpapi"
)

// Run runs the audit command in args (serve, migrate, version).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return platform.Run(ctx, platform.Service{
		Name: "audit",
		Mount: func(_ *platform.Deps, app *fiber.App) error {
			return httpapi.Routes(app)
		},
	}, args, getenv, stdout)
}
