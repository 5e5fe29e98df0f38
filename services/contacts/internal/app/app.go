// Package app wires the contacts service together and runs it.
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
	"amancair.dev/services/contacts/internal/contacts"
	"amancair.dev/services/contacts/internal/httpapi"
	"amancair.dev/services/contacts/internal/postgres"
)

// followUsers keeps the projection of identity's users and deletes an erased
// user's contacts.
func followUsers(ctx context.Context, d *platform.Deps) error {
	u, err := events.NewUserEvents("contacts", d.Pool, d.NATS, d.Stream, d.EventsPrefix, systemTx, postgres.Eraser(d.Keyring), d.Logger)
	if err != nil {
		return err
	}
	return u.Run(ctx)
}

func systemTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgpkg.Tx(ctx, pool, pgpkg.PurposeSystem, fn)
}

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
		Background: []func(context.Context, *platform.Deps) error{followUsers},
	}, args, getenv, stdout)
}
