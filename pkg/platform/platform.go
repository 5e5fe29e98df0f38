// Package platform is the lifecycle every AmanCair service shares: it reads the
// common configuration, builds telemetry, the database pool, the NATS connection
// and the Vault client once, hands them to the service to mount its routes, and
// runs until SIGINT or SIGTERM. Services differ only in what they mount.
package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"amancair.dev/pkg/config"
	"amancair.dev/pkg/events"
	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/pii"
	"amancair.dev/pkg/postgres"
	"amancair.dev/pkg/telemetry"
)

// Version is stamped at build time with -ldflags "-X amancair.dev/pkg/platform.Version=…".
var Version = "dev"

// Service describes one microservice to Run.
type Service struct {
	Name string
	// Migrations holds the service's goose SQL files; nil when it has no tables yet
	// (migrate then only provisions the schema and roles).
	Migrations fs.FS
	// Mapper translates the service's domain errors to problems.
	Mapper httpserver.Mapper
	// Mount adds the service's routes, built from deps, to app.
	Mount func(deps *Deps, app *fiber.App) error
}

// Deps are the process-wide dependencies a service builds its use cases from.
type Deps struct {
	Env       *config.Env
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
	Pool      *pgxpool.Pool
	NATS      *nats.Conn
	Vault     *vault.Client
}

// Run executes the command in args ("serve" when empty, "migrate", "version") and
// returns when it is done or, for serve, after a signal and a graceful shutdown.
func Run(ctx context.Context, svc Service, args []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return serve(ctx, svc, getenv, stdout)
	case "migrate":
		return migrate(ctx, svc, getenv, stdout)
	case "version":
		_, err := fmt.Fprintf(stdout, "%s %s\n", svc.Name, Version)
		return err
	}
	return fmt.Errorf("unknown command %q; commands: serve (default), migrate, version", cmd)
}

// migrate provisions the schema and its roles and applies the migrations, connected
// as MIGRATE_DATABASE_URL (a role allowed to create roles and schemas).
func migrate(ctx context.Context, svc Service, getenv func(string) string, stdout io.Writer) error {
	env := config.New(getenv)
	adminURL := env.URL("MIGRATE_DATABASE_URL", "", "postgres", "postgresql")
	env.Required("MIGRATE_DATABASE_URL")
	schema := postgres.SchemaFromEnv(env, svc.Name)
	tel, err := telemetry.Setup(ctx, env, svc.Name, Version, stdout)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx))
	if err := postgres.Provision(ctx, adminURL, schema); err != nil {
		return err
	}
	if svc.Migrations == nil {
		return nil
	}
	return postgres.Migrate(ctx, adminURL, schema, svc.Migrations, tel.Logger)
}

func serve(ctx context.Context, svc Service, getenv func(string) string, stdout io.Writer) error {
	env := config.New(getenv)
	httpAddr := env.String("HTTP_ADDR", ":8080")
	opsAddr := env.String("OPS_ADDR", ":9090")
	dbURL := env.URL("DATABASE_URL", "", "postgres", "postgresql")
	env.Required("DATABASE_URL")
	natsURL := env.URL("NATS_URL", "nats://127.0.0.1:4222", "nats", "tls")
	vaultAddr := env.URL("VAULT_ADDR", "http://127.0.0.1:8200", "http", "https")
	vaultToken := env.Lookup("VAULT_TOKEN")
	grace := env.Duration("SHUTDOWN_GRACE", 20*time.Second)
	schema := postgres.SchemaFromEnv(env, svc.Name)
	tel, err := telemetry.Setup(ctx, env, svc.Name, Version, stdout)
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }()
	logger := tel.Logger

	pool, err := postgres.Open(ctx, dbURL, schema.Name, tel)
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, err := events.Connect(natsURL, svc.Name, logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	vc, err := pii.NewVaultClient(vaultAddr, vaultToken)
	if err != nil {
		return err
	}

	deps := &Deps{Env: env, Logger: logger, Telemetry: tel, Pool: pool, NATS: nc, Vault: vc}
	srv := httpserver.New(httpserver.Config{
		Service:     svc.Name,
		Telemetry:   tel,
		Mapper:      svc.Mapper,
		Unavailable: []func(error) bool{postgres.IsUnavailable},
		Checks: map[string]httpserver.Check{
			"postgres": pool.Ping,
			"nats":     events.Ready(nc),
			"vault":    pii.Ready(vc),
		},
	})
	if err := svc.Mount(deps, srv.App); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	logger.Info("starting", "version", Version)
	err = srv.Serve(ctx, httpAddr, opsAddr, grace)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("stopped")
	return err
}
