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
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/config"
	"amancair.dev/pkg/events"
	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/pii"
	"amancair.dev/pkg/postgres"
	"amancair.dev/pkg/telemetry"
	"amancair.dev/pkg/transit"
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
	// TransitKeys are the Vault transit keys the service uses; migrate creates
	// them if they are missing.
	TransitKeys []transit.KeySpec
	// PIIKey names the transit key that wraps the service's data keys; when set,
	// migrate creates the key tables and the blind-index key, and Deps.Keyring
	// holds the service's data keys.
	PIIKey string
	// Keys returns the access-token verification keys. Nil: the JWKS at
	// IDENTITY_JWKS_URL (identity itself serves them from Vault).
	Keys func(deps *Deps) (jwt.Keyfunc, error)
	// Commands are extra subcommands (identity's grant-role), given the database
	// pool as the serving role.
	Commands map[string]Command
	// SharedSchema is idempotent DDL from pkg/ the service's schema also needs
	// (events.KnownUsersDDL); the outbox is always created.
	SharedSchema []string
	// Background runs beside the HTTP server until ctx ends (event consumers).
	Background []func(ctx context.Context, deps *Deps) error
}

// Command is a service-specific subcommand.
type Command func(ctx context.Context, deps *CommandDeps, args []string, stdout io.Writer) error

// CommandDeps are what a subcommand gets: configuration, a logger, the pool and
// the outbox (a command's changes are events too).
type CommandDeps struct {
	Env     *config.Env
	Logger  *slog.Logger
	Pool    *pgxpool.Pool
	Outbox  *events.Outbox
	Transit *transit.Engine
	Keyring *pii.Keyring // nil without Service.PIIKey
}

// Deps are the process-wide dependencies a service builds its use cases from.
type Deps struct {
	Env       *config.Env
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
	Pool      *pgxpool.Pool
	NATS      *nats.Conn
	Vault     *vault.Client
	Transit   *transit.Engine
	// Auth verifies access tokens; use Auth.Required() on protected routes.
	Auth *auth.Verifier
	// Issuer and Audience are the access tokens' iss and aud.
	Issuer, Audience string
	// Outbox writes the service's events in its transactions; Stream is where
	// they go.
	Outbox       *events.Outbox
	Stream       jetstream.StreamConfig
	EventsPrefix string
	// Keyring holds the service's per-user data keys (nil without PIIKey).
	Keyring *pii.Keyring
	// Service is the service's name.
	Service string
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
	if cmd == "rewrap" && svc.PIIKey != "" {
		return runCommand(ctx, svc, rewrap, args[1:], getenv, stdout)
	}
	if c, ok := svc.Commands[cmd]; ok {
		return runCommand(ctx, svc, c, args[1:], getenv, stdout)
	}
	names := []string{"serve (default)", "migrate", "version"}
	for name := range svc.Commands {
		names = append(names, name)
	}
	return fmt.Errorf("unknown command %q; commands: %s", cmd, strings.Join(names, ", "))
}

func runCommand(ctx context.Context, svc Service, c Command, args []string, getenv func(string) string, stdout io.Writer) error {
	env := config.New(getenv)
	dbURL := env.URL("DATABASE_URL", "", "postgres", "postgresql")
	env.Required("DATABASE_URL")
	schema := postgres.SchemaFromEnv(env, svc.Name)
	tel, err := telemetry.Setup(ctx, env, svc.Name, Version, io.Discard)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, dbURL, schema.Name, tel)
	if err != nil {
		return err
	}
	defer pool.Close()
	vc, _, err := vaultClient(ctx, env, tel.Logger, true)
	if err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	deps := &CommandDeps{Env: env, Logger: tel.Logger, Pool: pool,
		Outbox:  events.NewOutbox(svc.Name, env.String("EVENTS_PREFIX", "amancair")),
		Transit: transit.New(vc, env.String("TRANSIT_MOUNT", "transit"))}
	if svc.PIIKey != "" {
		deps.Keyring = pii.NewKeyring(deps.Transit, svc.PIIKey, 1000, time.Minute)
	}
	return c(ctx, deps, args, stdout)
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
	keys := svc.TransitKeys
	if svc.PIIKey != "" {
		keys = append(keys, transit.KeySpec{Name: svc.PIIKey, Type: "aes256-gcm96"})
	}
	var engine *transit.Engine
	if len(keys) > 0 {
		vc, _, err := vaultClient(ctx, env, tel.Logger, true)
		if err != nil {
			return err
		}
		engine = transit.New(vc, env.String("TRANSIT_MOUNT", "transit"))
	}
	if err := env.Err(); err != nil {
		return err
	}
	if engine != nil {
		if err := engine.EnsureKeys(ctx, keys...); err != nil {
			return err
		}
	}
	if err := postgres.Provision(ctx, adminURL, schema); err != nil {
		return err
	}
	shared := append([]string{events.OutboxDDL}, svc.SharedSchema...)
	if svc.PIIKey != "" {
		shared = append(shared, pii.KeysDDL)
	}
	if err := postgres.Migrate(ctx, adminURL, schema, svc.Migrations, tel.Logger, shared...); err != nil {
		return err
	}
	if svc.PIIKey == "" {
		return nil
	}
	return postgres.AsOwner(ctx, adminURL, schema, func(exec func(context.Context, string, ...any) error) error {
		return pii.EnsureIndexKey(ctx, engine, svc.PIIKey, exec)
	})
}

func serve(ctx context.Context, svc Service, getenv func(string) string, stdout io.Writer) error {
	env := config.New(getenv)
	httpAddr := env.String("HTTP_ADDR", ":8080")
	opsAddr := env.String("OPS_ADDR", ":9090")
	dbURL := env.URL("DATABASE_URL", "", "postgres", "postgresql")
	env.Required("DATABASE_URL")
	natsURL := env.URL("NATS_URL", "nats://127.0.0.1:4222", "nats", "tls")
	grace := env.Duration("SHUTDOWN_GRACE", 20*time.Second)
	issuer := env.String("JWT_ISSUER", "amancair-identity")
	audience := env.String("JWT_AUDIENCE", "amancair-api")
	jwksURL := env.URL("IDENTITY_JWKS_URL", "", "http", "https")
	if svc.Keys == nil {
		env.Required("IDENTITY_JWKS_URL")
	}
	eventsPrefix := env.String("EVENTS_PREFIX", "amancair")
	stream := events.StreamConfig(env.String("EVENTS_STREAM", "AMANCAIR"), eventsPrefix)
	trusted := strings.Fields(strings.ReplaceAll(env.String("TRUSTED_PROXIES", "127.0.0.1/32,::1/128"), ",", " "))
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
	nc, err := events.Connect(natsURL, svc.Name, events.Credentials{
		User: env.Lookup("NATS_USER"), Password: env.Lookup("NATS_PASSWORD"),
		CredsFile: env.Lookup("NATS_CREDS"), CAFile: env.Lookup("NATS_CA"),
	}, logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	vc, vaultAuth, err := vaultClient(ctx, env, logger, false)
	if err != nil {
		return err
	}
	vaultReady := pii.Ready(vc)
	if vaultAuth != nil {
		vaultReady = func(ctx context.Context) error { return errors.Join(pii.Ready(vc)(ctx), vaultAuth.Ready(ctx)) }
	}

	deps := &Deps{Env: env, Logger: logger, Telemetry: tel, Pool: pool, NATS: nc, Vault: vc,
		Transit: transit.New(vc, env.String("TRANSIT_MOUNT", "transit")), Issuer: issuer, Audience: audience,
		Outbox: events.NewOutbox(svc.Name, eventsPrefix), Stream: stream, EventsPrefix: eventsPrefix, Service: svc.Name}
	if svc.PIIKey != "" {
		deps.Keyring = pii.NewKeyring(deps.Transit, svc.PIIKey,
			env.Int("DATA_KEY_CACHE_SIZE", 100_000, 1, 10_000_000), env.Duration("DATA_KEY_CACHE_TTL", 10*time.Minute))
	}
	keys, err := verificationKeys(ctx, svc, deps, jwksURL)
	if err != nil {
		return err
	}
	deps.Auth = auth.NewVerifier(issuer, audience, keys)
	srv := httpserver.New(httpserver.Config{
		Service:        svc.Name,
		Telemetry:      tel,
		Mapper:         svc.Mapper,
		TrustedProxies: trusted,
		Unavailable:    []func(error) bool{postgres.IsUnavailable, transit.IsUnavailable, events.IsUnavailable},
		Checks: map[string]httpserver.Check{
			"postgres": pool.Ping,
			"nats":     events.Ready(nc),
			"vault":    vaultReady,
		},
	})
	srv.App.Use(func(c *fiber.Ctx) error {
		c.SetUserContext(auth.WithClientIP(c.UserContext(), httpserver.ClientIP(c)))
		return c.Next()
	})
	if err := svc.Mount(deps, srv.App); err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	relay, err := events.NewRelay(pool, nc, stream, svc.Name, tel.MeterProvider.Meter("amancair/events"), logger)
	if err != nil {
		return err
	}

	logger.Info("starting", "version", Version)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, httpAddr, opsAddr, grace) })
	g.Go(func() error { return relay.Run(gctx) })
	if vaultAuth != nil {
		g.Go(func() error { return vaultAuth.Run(gctx) })
	}
	for _, bg := range svc.Background {
		g.Go(func() error { return bg(gctx, deps) })
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	logger.Info("stopped")
	return err
}

// vaultClient connects to VAULT_ADDR and authenticates: with VAULT_TOKEN, or —
// with VAULT_AUTH_METHOD=kubernetes — as the pod's service account under the role
// VAULT_K8S_ROLE at VAULT_K8S_MOUNT. The returned auth, when not nil, must Run to
// keep the login alive; login waits for its first success when wait is set.
func vaultClient(ctx context.Context, env *config.Env, logger *slog.Logger, wait bool) (*vault.Client, *pii.KubernetesAuth, error) {
	addr := env.URL("VAULT_ADDR", "http://127.0.0.1:8200", "http", "https")
	method := env.OneOf("VAULT_AUTH_METHOD", "token", "token", "kubernetes")
	var role, mount string
	if method == "kubernetes" {
		role, mount = env.Required("VAULT_K8S_ROLE"), env.String("VAULT_K8S_MOUNT", "kubernetes")
	}
	vc, err := pii.NewVaultClient(addr, env.Lookup("VAULT_TOKEN"))
	if err != nil || method != "kubernetes" {
		return vc, nil, err
	}
	ka := &pii.KubernetesAuth{Client: vc, Role: role, Mount: mount, Logger: logger}
	if wait {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		go func() { _ = ka.Run(lctx) }()
		for ka.Ready(lctx) != nil {
			select {
			case <-lctx.Done():
				return nil, nil, errors.New("vault: kubernetes login did not succeed within a minute")
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return vc, ka, nil
}

func verificationKeys(ctx context.Context, svc Service, deps *Deps, jwksURL string) (jwt.Keyfunc, error) {
	if svc.Keys != nil {
		return svc.Keys(deps)
	}
	return auth.RemoteKeys(ctx, jwksURL, deps.Logger)
}

// rewrap is `<service> rewrap`: re-wrap every stored key under the newest
// version of the service's transit key (see docs/key-rotation.md).
func rewrap(ctx context.Context, d *CommandDeps, _ []string, stdout io.Writer) error {
	res, err := pii.Rewrap(ctx, d.Pool, d.Transit, d.Keyring.KeyName(), 200)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "rewrapped %d data keys and %d index keys; all keys are wrapped under version %d of %s\n",
		res.DataKeys, res.IndexKeys, res.Version, d.Keyring.KeyName())
	return err
}

// FollowUsers is the Background task of a service that keeps per-user rows in
// table: it maintains the known_users projection from identity's events and, when
// a user is erased, destroys the user's data key and rows in one transaction,
// under the per-user advisory lock named lock that the service's writes take.
func FollowUsers(table, lock string) func(context.Context, *Deps) error {
	return func(ctx context.Context, d *Deps) error {
		erase := d.Keyring.EraseRows(table, lock)
		system := func(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
			return postgres.Tx(ctx, pool, postgres.PurposeSystem, fn)
		}
		u, err := events.NewUserEvents(d.Service, d.Pool, d.NATS, d.Stream, d.EventsPrefix, system, erase, d.Logger)
		if err != nil {
			return err
		}
		return u.Run(ctx)
	}
}
