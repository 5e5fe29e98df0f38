// Package devstack brings up the whole AmanCair system on one machine: PostgreSQL,
// NATS and Vault (found, or started from pinned binaries), the four services built
// from this checkout, and the Caddy gateway in front. `make run` uses it to serve
// developers on :8000; the end-to-end tests and `make bench` use it with a
// throwaway database and free ports.
package devstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"amancair.dev/pkg/testenv"
)

// Services in start order.
var Services = []string{"identity", "device", "contacts", "audit"}

// Options choose where the stack's parts live. Empty fields take defaults.
type Options struct {
	// DatabaseURL is the PostgreSQL database to use. Empty: the local server on
	// 127.0.0.1:5432 (database "amancair", created if missing), or else a throwaway
	// cluster from the system's PostgreSQL binaries.
	DatabaseURL string
	// NATSURL defaults to nats://127.0.0.1:4222; when nothing answers there the
	// pinned nats-server is started there.
	NATSURL string
	// VaultAddr defaults to http://127.0.0.1:8200; when nothing answers there a
	// Vault dev server with transit is started there.
	VaultAddr, VaultToken string
	// GatewayAddr is where Caddy listens; default ":8000".
	GatewayAddr string
	// Ephemeral gives the stack a database and role names of its own, free ports
	// and servers of its own where none answer, all removed by Stop: for tests and
	// benchmarks that must share nothing with other runs.
	Ephemeral bool
	// Log receives every process's output, each line tagged with its source.
	Log io.Writer
	// ServiceEnv adds NAME=value settings to every service (tests use it to
	// isolate the SMS subject, say).
	ServiceEnv []string
	// PrivateNATS starts a nats-server of the stack's own even when one answers,
	// so a test may stop and start it (Stack.NATS).
	PrivateNATS bool
}

// Stack is a running system.
type Stack struct {
	GatewayURL  string
	DatabaseURL string // superuser connection to the stack's database
	NATSURL     string
	VaultAddr   string
	VaultToken  string
	// ServiceURLs and OpsURLs address each service directly, bypassing the gateway.
	ServiceURLs map[string]string
	OpsURLs     map[string]string
	Roles       map[string][2]string // service → owner, app role
	// EventsPrefix and EventsStream are where the services' events go.
	EventsPrefix, EventsStream string
	// NATS is the stack's private server (Options.PrivateNATS), else nil.
	NATS *testenv.NATSServer

	stops      []func()
	procs      map[string]*testenv.Process
	extraEnv   []string
	serviceEnv map[string][]string
	log        *tagger
}

// Wait returns nil when ctx ends, or an error as soon as one of the stack's
// services or its gateway exits on its own.
func (s *Stack) Wait(ctx context.Context) error {
	exited := make(chan string, len(s.procs))
	for name, p := range s.procs {
		if p == nil {
			continue
		}
		go func() {
			select {
			case <-p.Exited():
				exited <- name
			case <-ctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil
	case name := <-exited:
		return fmt.Errorf("%s exited unexpectedly", name)
	}
}

// Start brings the stack up, or stops whatever it started and returns the error.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	for attempt := 1; ; attempt++ {
		s, err := start(ctx, opts)
		// An ephemeral stack picks free ports up front; another process may take
		// one before it is bound. Everything started was stopped: try anew.
		if err == nil || !opts.Ephemeral || attempt == 3 || !strings.Contains(err.Error(), "already in use") {
			return s, err
		}
	}
}

func start(ctx context.Context, opts Options) (_ *Stack, err error) {
	root, err := testenv.Root()
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = os.Stdout
	}
	s := &Stack{ServiceURLs: map[string]string{}, OpsURLs: map[string]string{}, Roles: map[string][2]string{},
		EventsPrefix: "amancair", EventsStream: "AMANCAIR",
		procs: map[string]*testenv.Process{}, serviceEnv: map[string][]string{}, log: &tagger{w: opts.Log}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	binDir := filepath.Join(root, "bin")
	if err := buildServices(ctx, root, binDir); err != nil {
		return nil, err
	}
	if err := s.startServers(ctx, opts); err != nil {
		return nil, err
	}

	rolePrefix := ""
	if opts.Ephemeral {
		id := testenv.RandomID(4)
		rolePrefix = "amc_" + id + "_"
		// Tests and the benchmark register many users from one address.
		s.extraEnv = append(s.extraEnv, "REGISTRATIONS_PER_IP=1000000")
		// Streams and subjects of the stack's own; the stream goes with the stack.
		s.EventsPrefix, s.EventsStream = "amc"+id, "AMC"+strings.ToUpper(id)
		s.stops = append(s.stops, func() { testenv.DeleteStream(s.NATSURL, s.EventsStream) })
	}
	upstreams := map[string]string{}
	s.extraEnv = append(s.extraEnv, opts.ServiceEnv...)
	addrs := map[string][2]string{}
	for i, svc := range Services {
		httpAddr, opsAddr := fmt.Sprintf("127.0.0.1:%d", 8081+i), fmt.Sprintf("127.0.0.1:%d", 9091+i)
		if opts.Ephemeral {
			if httpAddr, err = testenv.FreeAddr(); err != nil {
				return nil, err
			}
			if opsAddr, err = testenv.FreeAddr(); err != nil {
				return nil, err
			}
		}
		addrs[svc] = [2]string{httpAddr, opsAddr}
		s.ServiceURLs[svc], s.OpsURLs[svc] = "http://"+httpAddr, "http://"+opsAddr
		upstreams[strings.ToUpper(svc)+"_UPSTREAM"] = httpAddr
	}
	for _, svc := range Services {
		if err := s.startService(ctx, binDir, svc, rolePrefix, addrs[svc][0], addrs[svc][1]); err != nil {
			return nil, err
		}
	}

	gateway := opts.GatewayAddr
	if gateway == "" {
		gateway = "127.0.0.1:8000"
		if opts.Ephemeral {
			if gateway, err = testenv.FreeAddr(); err != nil {
				return nil, err
			}
		}
	}
	if err := s.startGateway(ctx, root, gateway, upstreams); err != nil {
		return nil, err
	}
	return s, nil
}

// Stop stops everything Start started, in reverse order, and nothing else.
func (s *Stack) Stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

func buildServices(ctx context.Context, root, binDir string) error {
	args := []string{"build", "-trimpath", "-o", binDir + "/"}
	for _, svc := range Services {
		args = append(args, "./services/"+svc+"/cmd/"+svc)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build services: %w\n%s", err, out)
	}
	return nil
}

func (s *Stack) startServers(ctx context.Context, opts Options) error {
	var err error
	var stop testenv.Stop

	// Vault first: a dev server keeps its keys in memory, so what an earlier one
	// encrypted cannot be read with a new one.
	vaultAddr := envOr(opts.VaultAddr, "http://127.0.0.1:8200")
	if opts.Ephemeral && opts.VaultAddr == "" {
		vaultAddr = ""
	}
	freshVault := vaultAddr == "" || !testenv.Answers(vaultAddr)
	if s.VaultAddr, s.VaultToken, stop, err = testenv.Vault(ctx, vaultAddr, opts.VaultToken, s.log.tag("vault")); err != nil {
		return err
	}
	s.stops = append(s.stops, stop)

	dbURL := opts.DatabaseURL
	switch {
	case opts.Ephemeral:
		server := envOr(dbURL, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		name := "amc_stack_" + testenv.RandomID(6)
		if s.DatabaseURL, stop, err = testenv.Postgres(ctx, server, name, s.log.tag("postgres")); err != nil {
			return err
		}
		serverURL := testenv.WithDatabase(s.DatabaseURL, "postgres")
		// The roles go after the database that holds their grants.
		s.stops = append(s.stops, stop, func() { dropDatabase(serverURL, name); dropRoles(serverURL, s.Roles) })
	case dbURL != "":
		s.DatabaseURL = dbURL
		if freshVault {
			fmt.Fprintln(s.log.tag("devstack"), "warning: a new in-memory Vault dev server started; data encrypted under an earlier one in DATABASE_URL cannot be read")
		}
	default:
		const server = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
		existed := false
		if freshVault && testenv.Answers(server) {
			existed = s.resetDevDatabase(server)
		}
		if s.DatabaseURL, stop, err = testenv.Postgres(ctx, server, "amancair", s.log.tag("postgres")); err != nil {
			return err
		}
		s.stops = append(s.stops, stop)
		if freshVault && !existed {
			markDevDatabase(server) // made here, under this dev Vault
		}
	}

	if opts.PrivateNATS {
		if s.NATS, err = testenv.StartNATSServer(ctx, s.log.tag("nats")); err != nil {
			return err
		}
		s.NATSURL = s.NATS.URL
		s.stops = append(s.stops, s.NATS.Close)
	} else {
		if s.NATSURL, stop, err = testenv.NATS(ctx, envOr(opts.NATSURL, "nats://127.0.0.1:4222"), !opts.Ephemeral, s.log.tag("nats")); err != nil {
			return err
		}
		s.stops = append(s.stops, stop)
	}
	return nil
}

// Command runs a service's subcommand (identity's grant-role, say) against the
// stack's database, its output tagged in the stack's log.
func (s *Stack) Command(ctx context.Context, svc string, args ...string) error {
	root, err := testenv.Root()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", svc), args...)
	cmd.Env = append(os.Environ(), s.serviceEnv[svc]...)
	cmd.Stdout, cmd.Stderr = s.log.tag(svc), s.log.tag(svc)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", svc, strings.Join(args, " "), err)
	}
	return nil
}

func (s *Stack) startService(ctx context.Context, binDir, svc, rolePrefix, httpAddr, opsAddr string) error {
	owner, app := rolePrefix+svc+"_owner", rolePrefix+svc+"_app"
	password := testenv.RandomID(16)
	s.Roles[svc] = [2]string{owner, app}
	env := []string{
		"MIGRATE_DATABASE_URL=" + s.DatabaseURL,
		"DATABASE_URL=" + testenv.WithUser(s.DatabaseURL, app, password),
		"DB_OWNER_ROLE=" + owner,
		"DB_APP_ROLE=" + app,
		"DB_APP_PASSWORD=" + password,
		"NATS_URL=" + s.NATSURL,
		"VAULT_ADDR=" + s.VaultAddr,
		"VAULT_TOKEN=" + s.VaultToken,
		"HTTP_ADDR=" + httpAddr,
		"OPS_ADDR=" + opsAddr,
		"EVENTS_PREFIX=" + s.EventsPrefix,
		"EVENTS_STREAM=" + s.EventsStream,
	}
	env = append(env,
		"IDENTITY_JWKS_URL="+s.ServiceURLs["identity"]+"/.well-known/jwks.json",
		"DEVICE_URL="+s.ServiceURLs["device"],
		"CONTACTS_URL="+s.ServiceURLs["contacts"])
	env = append(env, s.extraEnv...)
	s.serviceEnv[svc] = env
	bin := filepath.Join(binDir, svc)
	migrate := exec.CommandContext(ctx, bin, "migrate")
	migrate.Env = append(os.Environ(), env...)
	migrate.Stdout, migrate.Stderr = s.log.tag(svc), s.log.tag(svc)
	if err := migrate.Run(); err != nil {
		return fmt.Errorf("%s migrate: %w", svc, err)
	}
	for _, addr := range []string{httpAddr, opsAddr} {
		if err := testenv.CheckFree(addr); err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
	}
	s.stops = append(s.stops, func() {
		if p := s.procs[svc]; p != nil {
			p.Stop()
		}
	})
	return s.run(ctx, svc)
}

// run starts svc's serve process and waits until it is ready.
func (s *Stack) run(ctx context.Context, svc string) error {
	root, err := testenv.Root()
	if err != nil {
		return err
	}
	binDir := filepath.Join(root, "bin")
	proc, err := testenv.StartProcess(s.log.tag(svc), filepath.Join(binDir, svc), nil, s.serviceEnv[svc], binDir)
	if err != nil {
		return fmt.Errorf("start %s: %w", svc, err)
	}
	s.procs[svc] = proc
	return waitHTTP(ctx, svc, s.OpsURLs[svc]+"/readyz", proc)
}

// Kill ends svc at once (SIGKILL), as a crash would.
func (s *Stack) Kill(svc string) {
	if p := s.procs[svc]; p != nil {
		p.Kill()
		s.procs[svc] = nil
	}
}

// Restart starts svc again after Kill.
func (s *Stack) Restart(ctx context.Context, svc string) error { return s.run(ctx, svc) }

func (s *Stack) startGateway(ctx context.Context, root, addr string, upstreams map[string]string) error {
	caddy, err := testenv.Bin("caddy")
	if err != nil {
		return err
	}
	if err := testenv.CheckFree(addr); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("gateway address %q: %w", addr, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	env := []string{"GATEWAY_PORT=" + port, "GATEWAY_BIND=" + host}
	for k, v := range upstreams {
		env = append(env, k+"="+v)
	}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		env = append(env, "OTEL_TRACES_EXPORTER=none")
	}
	proc, err := testenv.StartProcess(s.log.tag("gateway"), caddy,
		[]string{"run", "--config", filepath.Join(root, "deploy/gateway/Caddyfile"), "--adapter", "caddyfile"}, env, root)
	if err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	s.stops = append(s.stops, proc.Stop)
	s.procs["gateway"] = proc
	if host == "0.0.0.0" {
		host = "localhost"
	}
	s.GatewayURL = "http://" + net.JoinHostPort(host, port)
	return waitHTTP(ctx, "gateway", s.GatewayURL+"/users/openapi.json", proc)
}

// waitHTTP polls url until it answers 200, failing early if proc exits meanwhile.
func waitHTTP(ctx context.Context, what, url string, proc *testenv.Process) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w", what, url, ctx.Err())
		case <-proc.Exited():
			return fmt.Errorf("%s exited before it was ready (its log lines above say why)", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func envOr(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// devMarker labels a local database whose data is encrypted under an in-memory
// dev Vault started by make run, and so may be recreated with the next one.
const devMarker = "amancair make run: encrypted under an in-memory dev Vault"

// resetDevDatabase drops the local database amancair when make run made it
// under an earlier dev Vault (its data cannot be decrypted any more). A database
// it did not mark is left alone, with a warning. It reports whether the database
// is still there.
func (s *Stack) resetDevDatabase(server string) (kept bool) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	var comment *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'amancair'`).Scan(&comment)
	switch {
	case err != nil: // no such database: nothing to reset
		return false
	case comment != nil && *comment == devMarker:
		fmt.Fprintln(s.log.tag("devstack"), "a new in-memory Vault dev server started: recreating database amancair, which make run encrypted under the last one")
		dropDatabase(server, "amancair")
		return false
	default:
		fmt.Fprintln(s.log.tag("devstack"), "warning: a new in-memory Vault dev server started, but database amancair was not made by make run and is kept; its data was encrypted under another Vault (drop it, or point VAULT_ADDR at that Vault)")
		return true
	}
}

func markDevDatabase(server string) {
	ctx := context.Background()
	if conn, err := pgx.Connect(ctx, server); err == nil {
		_, _ = conn.Exec(ctx, `COMMENT ON DATABASE amancair IS '`+devMarker+`'`)
		conn.Close(ctx)
	}
}

func dropDatabase(serverURL, name string) {
	ctx := context.Background()
	if conn, err := pgx.Connect(ctx, serverURL); err == nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		conn.Close(ctx)
	}
}

func dropRoles(serverURL string, roles map[string][2]string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for _, r := range roles {
		for _, name := range r {
			_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{name}.Sanitize())
		}
	}
}

// tagger writes each line of several processes' output to one stream, prefixed
// with the process's name, never interleaving within a line.
type tagger struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *tagger) tag(name string) io.Writer {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		prefix := []byte(fmt.Sprintf("%-9s| ", name))
		for sc.Scan() {
			t.mu.Lock()
			_, _ = t.w.Write(append(append(bytes.Clone(prefix), sc.Bytes()...), '\n'))
			t.mu.Unlock()
		}
		_ = pr.CloseWithError(errors.New("tagger: reader stopped"))
	}()
	return pw
}
