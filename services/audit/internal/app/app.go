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
	"amancair.dev/services/audit/internal/published"
)

// Run runs the audit command in args (serve, migrate, version, verify).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return platform.Run(ctx, platform.Service{
		Name:        "audit",
		Migrations:  postgres.Migrations(),
		Mapper:      httpapi.Problems,
		TransitKeys: notary.Keys,
		Mount: func(d *platform.Deps, app *fiber.App) error {
			svc, err := newService(d)
			if err != nil {
				return err
			}
			return httpapi.Routes(app, svc, d.Auth)
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
	trail := postgres.NewTrail(d.Pool, d.Outbox)
	return c.Run(ctx, func(ctx context.Context, batch []events.Message) error {
		ces := make([]events.CloudEvent, 0, len(batch))
		for _, m := range batch {
			// The chain's own checkpoints are not entries: each would move the
			// head and call for the next.
			if m.Event.Type == postgres.CheckpointEvent && m.Event.Service() == "audit" {
				continue
			}
			ces = append(ces, m.Event)
		}
		if len(ces) == 0 {
			return nil
		}
		_, err := trail.Append(ctx, ces)
		return err
	})
}

// checkpoint signs the chain's head every AUDIT_CHECKPOINT_INTERVAL (default a
// minute) when it has moved; a failure (Vault down) is retried at the next tick.
func checkpoint(ctx context.Context, d *platform.Deps) error {
	interval := d.Env.Duration("AUDIT_CHECKPOINT_INTERVAL", time.Minute)
	svc, err := newService(d)
	if err != nil {
		return err
	}
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

func newService(d *platform.Deps) (*audit.Service, error) {
	pub, err := published.New(d.NATS, d.Stream, d.EventsPrefix)
	if err != nil {
		return nil, err
	}
	return audit.NewService(postgres.NewTrail(d.Pool, d.Outbox), notary.New(d.Transit), pub), nil
}

// errBroken makes `audit verify` exit non-zero on a broken chain.
var errBroken = errors.New("the audit chain is broken")

// verify is `audit verify`: recompute the chain and print the result as JSON.
func verify(ctx context.Context, d *platform.CommandDeps, _ []string, stdout io.Writer) error {
	// The command line has no NATS connection: it checks the checkpoints in the
	// database; GET /audit/verify also checks the published one.
	v, err := audit.VerifyAll(ctx, postgres.NewTrail(d.Pool, d.Outbox), notary.New(d.Transit), nil)
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
