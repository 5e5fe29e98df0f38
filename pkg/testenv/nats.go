package testenv

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// DeleteStream removes a test's JetStream stream, if it exists.
func DeleteStream(natsURL, name string) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return
	}
	defer nc.Close()
	if js, err := jetstream.New(nc); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, name)
	}
}

// AnnounceUser publishes identity's event (user.created, user.erased) for userID
// on the test's stream, as identity would, so another service's projection learns
// of the user.
func AnnounceUser(t testing.TB, env map[string]string, userID int64, typ string) {
	t.Helper()
	Publish(t, env, "identity", typ, RandomID(16), map[string]any{"subject_user_id": userID})
}

// Publish publishes a CloudEvent of typ from service with the given id and data
// on the test's stream (as ServiceEnv configured it), as the service's relay would.
func Publish(t testing.TB, env map[string]string, service, typ, id string, data map[string]any) {
	t.Helper()
	publish(t, env, service, typ, id, id, data)
}

// Republish publishes the event again under a new Nats-Msg-Id, as a relay retry
// after JetStream's duplicate window would: only the consumer can drop it.
func Republish(t testing.TB, env map[string]string, service, typ, id string, data map[string]any) {
	t.Helper()
	publish(t, env, service, typ, id, RandomID(16), data)
}

func publish(t testing.TB, env map[string]string, service, typ, id, msgID string, data map[string]any) {
	t.Helper()
	nc, err := nats.Connect(env["NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/amancair/" + service, "type": typ,
		"time": time.Now().UTC(), "datacontenttype": "application/json", "data": data})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, env["EVENTS_PREFIX"]+"."+service+"."+typ, body, jetstream.WithMsgID(msgID)); err != nil {
		t.Fatalf("publish %s: %v", typ, err)
	}
}
