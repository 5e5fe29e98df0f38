package testenv

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Inbox collects the JSON messages published on a core NATS subject during a test.
type Inbox struct {
	t  testing.TB
	ch chan map[string]any
}

// Subscribe listens on subject at natsURL until the test ends.
func Subscribe(t testing.TB, natsURL, subject string) *Inbox {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	in := &Inbox{t: t, ch: make(chan map[string]any, 1024)}
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var v map[string]any
		if json.Unmarshal(m.Data, &v) == nil {
			in.ch <- v
		}
	}); err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return in
}

// Next returns the next message for which match is true, failing the test after 10 s.
func (in *Inbox) Next(match func(map[string]any) bool) map[string]any {
	in.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-in.ch:
			if match(m) {
				return m
			}
		case <-timeout:
			in.t.Fatal("no matching message within 10s")
			return nil
		}
	}
}

// LoginCode waits for the otp_login SMS to phone and returns its code.
func (in *Inbox) LoginCode(phone string) string {
	in.t.Helper()
	m := in.Next(func(m map[string]any) bool { return m["to"] == phone && m["template"] == "otp_login" })
	params, _ := m["params"].(map[string]any)
	code, _ := params["code"].(string)
	if len(code) != 6 {
		in.t.Fatalf("login SMS without a 6-digit code: %v", m)
	}
	return code
}
