// Package app wires the audit service together and runs it.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/platform"
	"amancair.dev/services/audit/internal/audit"
	"amancair.dev/services/audit/internal/httpapi"
	"amancair.dev/services/audit/internal/notary"
	"amancair.dev/services/audit/internal/postgres"
)

// Run runs the audit command in args (serve, migrate, version, verify).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return platform.Run(ctx, platform.Service{
		Name:        "audit",
		Migrations:  postgres.Migrations(),
		Mapper:      httpapi.Problems,
		TransitKeys: notary.Keys,
		Mount: func(d *platform.Deps, app *fiber.App) error {
			return httpapi.Routes(app, audit.NewService(postgres.NewTrail(d.Pool), notary.New(d.Transit)), d.Auth)
		},
		Background: []func(context.Context, *platform.Deps) error{consume, checkpoint},
		Commands:   map[string]platform.Command{"verify": verify},
	}, args, getenv, stdout)
}

// consume stores every event of every service in the trail, once.
func consume(ctx context.Context, d *platform.Deps) error {
	c, err := events.NewConsumer(d.NATS, d.Stream, "audit", []string{d.EventsPrefix + ".>"}, d.Logger)
	if err != nil {
		return err
	}
	trail := postgres.NewTrail(d.Pool)
	return c.Run(ctx, func(ctx context.Context, batch []events.Message) error {
		ces := make([]events.CloudEvent, len(batch))
		for i, m := range batch {
			ces[i] = m.Event
		}
		_, err := trail.Append(ctx, ces)
		return err
	})
}

// checkpoint signs the chain's head every AUDIT_CHECKPOINT_INTERVAL (default a
// minute) when it has moved; a failure (Vault down) is retried at the next tick.
func checkpoint(ctx context.Context, d *platform.Deps) error {
	interval := d.Env.Duration("AUDIT_CHECKPOINT_INTERVAL", time.Minute)
	svc := audit.NewService(postgres.NewTrail(d.Pool), notary.New(d.Transit))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := svc.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				d.Logger.Warn("audit checkpoint failed", "error", err.Error())
			}
		}
	}
}

// errBroken makes `audit verify` exit non-zero on a broken chain.
var errBroken = errors.New("the audit chain is broken")

// verify is `audit verify`: recompute the chain and print the result as JSON.
func verify(ctx context.Context, d *platform.CommandDeps, _ []string, stdout io.Writer) error {
	v, err := audit.VerifyAll(ctx, postgres.NewTrail(d.Pool), notary.New(d.Transit))
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(v); err != nil {
		return err
	}
	if !v.OK {
		return errBroken
	}
	return nil
}
