package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunFunc is a service's app.Run.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// StartService migrates and then serves a service in this process, as its main
// would, on free ports; it waits for /readyz and returns the base URL. The service
// stops, and must stop cleanly, when the test ends. Its log lines are kept in Logs.
// A port taken by another process between choosing and binding it is chosen anew.
func StartService(t testing.TB, run RunFunc, env map[string]string) *Service {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := startService(t, run, env)
		if err == nil {
			return s
		}
		if !strings.Contains(err.Error(), "address already in use") || attempt == 3 {
			t.Fatal(err)
		}
	}
}

func startService(t testing.TB, run RunFunc, env map[string]string) (*Service, error) {
	t.Helper()
	httpAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	opsAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	env["HTTP_ADDR"], env["OPS_ADDR"] = httpAddr, opsAddr
	s := &Service{URL: "http://" + httpAddr, OpsURL: "http://" + opsAddr}

	ctx, cancel := context.WithCancel(context.Background())
	if err := run(ctx, []string{"migrate"}, Getenv(env), &s.Logs); err != nil {
		cancel()
		t.Fatalf("migrate: %v\n%s", err, s.Logs.String())
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, Getenv(env), &s.Logs) }()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if stopped {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("service stopped with error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("service did not stop within 30s of cancellation")
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.OpsURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-done:
			stopped = true
			return nil, fmt.Errorf("service exited before it was ready: %w\n%s", err, s.Logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("service not ready after 30s\n%s", s.Logs.String())
		}
	}
}

// Service is a service started by StartService.
type Service struct {
	URL    string
	OpsURL string
	Logs   SyncBuffer
}

// SyncBuffer is a bytes.Buffer safe for a service writing and a test reading.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
