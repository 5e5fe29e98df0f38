// Package testenv finds or starts the servers AmanCair runs on — PostgreSQL, NATS
// with JetStream and a Vault dev server with transit — for tests and for the local
// stack. It uses a server that already answers, and otherwise starts the pinned one
// from bin/ (built from tools/ on first use) and stops it again.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stop ends what a finder started; it is a no-op for a server that was already there.
type Stop func()

func noop() {}

// Root returns the repository root: the nearest directory above the working
// directory that holds go.work.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.work above the working directory")
		}
		dir = parent
	}
}

// Bin returns the path of a pinned tool in bin/, building it from tools/ first if it
// is not there yet.
func Bin(name string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "bin", name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "tools.sh"), name)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	return path, nil
}

// FreeAddr returns a loopback address with a port nothing listens on now.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// RandomID returns n random bytes in hex, for names no other run will use.
func RandomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Answers reports whether something listens at the host and port of url.
func Answers(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Host != "" && reachable(u.Host)
}

func reachable(hostport string) bool {
	conn, err := net.DialTimeout("tcp", hostport, 500*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Process is a server process started by StartProcess.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Exited is closed when the process has ended, for whatever reason.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Stop terminates the process group and waits for it (SIGKILL after 10 s).
func (p *Process) Stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Kill ends the process group at once, as a crash would.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// StartProcess runs a server process in its own process group (killed if this
// process dies), its output to logw, with env added to ours.
func StartProcess(logw io.Writer, name string, args []string, env []string, dir string) (*Process, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logw, logw
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// CheckFree fails when something already listens on addr, naming it, so a stack
// never mistakes another run's server for its own.
func CheckFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is already in use (another run still going?): %w", addr, err)
	}
	return ln.Close()
}

func waitFor(ctx context.Context, what string, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not come up: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// NATS returns natsURL if a server answers there, or starts the pinned nats-server
// with JetStream (storage in a temporary directory) on a free port — on natsURL's
// own port when startOnURL is set, as the local stack wants.
func NATS(ctx context.Context, natsURL string, startOnURL bool, logw io.Writer) (string, Stop, error) {
	u, err := url.Parse(natsURL)
	if err != nil {
		return "", nil, fmt.Errorf("NATS_URL: %w", err)
	}
	if reachable(u.Host) {
		return natsURL, noop, nil
	}
	addr := u.Host
	if !startOnURL {
		if addr, err = FreeAddr(); err != nil {
			return "", nil, err
		}
	}
	host, port, _ := net.SplitHostPort(addr)
	bin, err := Bin("nats-server")
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "amancair-nats-")
	if err != nil {
		return "", nil, err
	}
	proc, err := StartProcess(logw, bin, []string{"-a", host, "-p", port, "-js", "-sd", dir}, nil, dir)
	if err != nil {
		return "", nil, err
	}
	stopAll := func() { proc.Stop(); os.RemoveAll(dir) }
	if err := waitFor(ctx, "nats-server", func() bool { return reachable(addr) }); err != nil {
		stopAll()
		return "", nil, err
	}
	return "nats://" + addr, stopAll, nil
}

// Vault returns addr and token if a Vault answers there, or starts a Vault dev
// server (in memory, a random root token) on addr — or on a free port when addr is
// empty — and enables the transit engine.
func Vault(ctx context.Context, addr, token string, logw io.Writer) (string, string, Stop, error) {
	if addr != "" {
		u, err := url.Parse(addr)
		if err != nil {
			return "", "", nil, fmt.Errorf("VAULT_ADDR: %w", err)
		}
		if reachable(u.Host) {
			return addr, token, noop, nil
		}
	} else {
		free, err := FreeAddr()
		if err != nil {
			return "", "", nil, err
		}
		addr = "http://" + free
	}
	u, _ := url.Parse(addr)
	bin, err := Bin("vault")
	if err != nil {
		return "", "", nil, err
	}
	if token == "" {
		token = "dev-" + RandomID(12)
	}
	dir, err := os.MkdirTemp("", "amancair-vault-")
	if err != nil {
		return "", "", nil, err
	}
	proc, err := StartProcess(logw, bin, []string{"server", "-dev", "-dev-no-store-token",
		"-dev-listen-address=" + u.Host, "-dev-root-token-id=" + token, "-log-level=warn"},
		[]string{"HOME=" + dir, "VAULT_DISABLE_MLOCK=true"}, dir)
	if err != nil {
		return "", "", nil, err
	}
	stopAll := func() { proc.Stop(); os.RemoveAll(dir) }
	health := func() bool {
		resp, err := http.Get(addr + "/v1/sys/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if err := waitFor(ctx, "vault", health); err != nil {
		stopAll()
		return "", "", nil, err
	}
	if err := vaultRequest(ctx, addr, token, "POST", "/v1/sys/mounts/transit", `{"type":"transit"}`); err != nil {
		stopAll()
		return "", "", nil, err
	}
	return addr, token, stopAll, nil
}

func vaultRequest(ctx context.Context, addr, token, method, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, method, addr+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("vault %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Postgres returns an admin connection string for database dbName: on the server at
// serverURL when one answers there (creating dbName if it is missing), or else on a
// throwaway cluster made with the system's PostgreSQL binaries in a temporary
// directory, removed again by Stop.
func Postgres(ctx context.Context, serverURL, dbName string, logw io.Writer) (string, Stop, error) {
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		return "", nil, errors.New("database URL is not a valid PostgreSQL connection string")
	}
	stop := Stop(noop)
	if !reachable(net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))) {
		if serverURL, stop, err = throwawayCluster(ctx, logw); err != nil {
			return "", nil, err
		}
	}
	if err := CreateDatabase(ctx, serverURL, dbName); err != nil {
		stop()
		return "", nil, err
	}
	return WithDatabase(serverURL, dbName), stop, nil
}

// CreateDatabase creates dbName through serverURL unless it exists.
func CreateDatabase(ctx context.Context, serverURL, dbName string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, dbName).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbName}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", dbName, err)
	}
	return nil
}

// WithDatabase returns serverURL pointing at dbName.
func WithDatabase(serverURL, dbName string) string {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme == "" {
		return serverURL + " dbname=" + dbName
	}
	u.Path = "/" + dbName
	return u.String()
}

// WithUser returns serverURL connecting as user with password.
func WithUser(serverURL, user, password string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		return serverURL
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// throwawayCluster initialises and starts a PostgreSQL cluster in a temporary
// directory on a free port, run as the postgres system user when we are root
// (initdb refuses root).
func throwawayCluster(ctx context.Context, logw io.Writer) (string, Stop, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return "", nil, errors.New("no PostgreSQL answers and no PostgreSQL binaries are installed (apt-get install postgresql)")
	}
	binDir := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "amancair-pg-")
	if err != nil {
		return "", nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return "", nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	asPostgres := func(args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		}
		return exec.Command(args[0], args[1:]...)
	}
	if os.Geteuid() == 0 {
		if err := exec.Command("chown", "postgres:postgres", dir).Run(); err != nil {
			return "", nil, fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := asPostgres(filepath.Join(binDir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
	initdb.Stdout, initdb.Stderr = logw, logw
	if err := initdb.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("initdb: %w", err)
	}
	ctl := func(args ...string) error {
		c := asPostgres(append([]string{filepath.Join(binDir, "pg_ctl"), "-D", data, "-w"}, args...)...)
		c.Stdout, c.Stderr = logw, logw
		return c.Run()
	}
	opts := fmt.Sprintf("-p %s -c listen_addresses=127.0.0.1 -k %s", port, dir)
	if err := ctl("-o", opts, "-l", filepath.Join(dir, "postgres.log"), "start"); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("pg_ctl start: %w", err)
	}
	stop := func() { _ = ctl("-m", "fast", "stop"); os.RemoveAll(dir) }
	fmt.Fprintf(logw, "started a throwaway PostgreSQL cluster on %s\n", addr)
	return "postgres://postgres@" + addr + "/postgres?sslmode=disable", stop, nil
}

// NATSServer is a pinned nats-server of a test's own that the test may stop and
// start again on the same address and storage, to play an outage.
type NATSServer struct {
	URL  string
	addr string
	dir  string
	logw io.Writer
	proc *Process
}

// StartNATSServer starts a private nats-server with JetStream on a free port.
func StartNATSServer(ctx context.Context, logw io.Writer) (*NATSServer, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "amancair-nats-")
	if err != nil {
		return nil, err
	}
	s := &NATSServer{URL: "nats://" + addr, addr: addr, dir: dir, logw: logw}
	return s, s.Start(ctx)
}

// Start (re)starts the server and waits until it answers.
func (s *NATSServer) Start(ctx context.Context) error {
	bin, err := Bin("nats-server")
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(s.addr)
	if s.proc, err = StartProcess(s.logw, bin, []string{"-a", host, "-p", port, "-js", "-sd", s.dir}, nil, s.dir); err != nil {
		return err
	}
	return waitFor(ctx, "nats-server", func() bool { return reachable(s.addr) })
}

// Stop stops the server, keeping its storage for the next Start.
func (s *NATSServer) Stop() {
	if s.proc != nil {
		s.proc.Stop()
		s.proc = nil
	}
}

// Close stops the server and removes its storage.
func (s *NATSServer) Close() {
	s.Stop()
	os.RemoveAll(s.dir)
}
