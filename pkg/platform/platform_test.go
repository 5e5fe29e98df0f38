package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/platform"
	"amancair.dev/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// probe is a minimal service whose one route needs the database.
var probe = platform.Service{
	Name: "probe",
	Mount: func(d *platform.Deps, app *fiber.App) error {
		app.Get("/probe", func(c *fiber.Ctx) error {
			_, err := d.Pool.Exec(c.UserContext(), "SELECT 1")
			if err != nil {
				return err
			}
			return c.SendString("ok")
		})
		return nil
	},
}

func TestConfigErrorsNameEveryVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{"LOG_LEVEL": "chatty", "NATS_URL": "http://nats"}
	err := platform.Run(context.Background(), probe, nil, testenv.Getenv(env), io.Discard)
	if err == nil {
		t.Fatal("Run started without DATABASE_URL")
	}
	for _, name := range []string{"DATABASE_URL", "LOG_LEVEL", "NATS_URL", "IDENTITY_JWKS_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if err := platform.Run(context.Background(), probe, []string{"frobnicate"}, testenv.Getenv(env), io.Discard); err == nil {
		t.Error("Run accepted an unknown command")
	}
}

// With PostgreSQL and Vault unreachable the service still starts, says it is not
// ready and why (without internals), answers requests that need the database with
// 503 and Retry-After, and shuts down cleanly.
func TestDependenciesDown(t *testing.T) {
	t.Parallel()
	servers := testenv.Shared(t)
	dead, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, _ := testenv.FreeAddr()
	opsAddr, _ := testenv.FreeAddr()
	env := map[string]string{
		"DATABASE_URL":      "postgres://probe@" + dead + "/probe?connect_timeout=1",
		"VAULT_ADDR":        "http://" + dead,
		"NATS_URL":          servers.NATSURL,
		"IDENTITY_JWKS_URL": "http://" + dead + "/jwks.json",
		"HTTP_ADDR":         httpAddr,
		"OPS_ADDR":          opsAddr,
		"LOG_LEVEL":         "error",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- platform.Run(ctx, probe, nil, testenv.Getenv(env), io.Discard) }()

	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	status := waitStatus(t, "http://"+opsAddr+"/readyz", &ready)
	if status != http.StatusServiceUnavailable || ready.Checks["postgres"] != "unavailable" ||
		ready.Checks["vault"] != "unavailable" || ready.Checks["nats"] != "ok" {
		t.Errorf("/readyz = %d %+v, want 503 with postgres and vault unavailable, nats ok", status, ready)
	}

	resp, err := http.Get("http://" + httpAddr + "/probe")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /probe = %d %v %s, want 503 problem with Retry-After", resp.StatusCode, resp.Header, body)
	}
	for _, leak := range []string{dead, "dial", "connect", "postgres", "probe@"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("503 body leaks %q: %s", leak, body)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancellation = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}

func waitStatus(t *testing.T, url string, v any) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatalf("%s: %v", url, err)
			}
			return resp.StatusCode
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
	return 0
}
