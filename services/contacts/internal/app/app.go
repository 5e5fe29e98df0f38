// Package app wires the contacts service together and runs it.
package app

import (
	"context"
	"io"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/platform"
	"amancair.dev/services/contacts/internal/contacts"
	"amancair.dev/services/contacts/internal/httpapi"
	"amancair.dev/services/contacts/internal/postgres"
)

// Run runs the contacts command in args (serve, migrate, version).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return platform.Run(ctx, platform.Service{
		Name:         "contacts",
		PIIKey:       "contacts-pii",
		Migrations:   postgres.Migrations(),
		Mapper:       httpapi.Problems,
		SharedSchema: []string{events.KnownUsersDDL},
		Mount: func(d *platform.Deps, app *fiber.App) error {
			return httpapi.Routes(app, contacts.NewService(postgres.NewContacts(d.Pool, d.Outbox, d.Keyring)), d.Auth)
		},
		Background: []func(context.Context, *platform.Deps) error{platform.FollowUsers("emergency_contacts", "contacts.user")},
	}, args, getenv, stdout)
}
