package events_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"amancair.dev/pkg/events"
	"amancair.dev/pkg/testenv"
)

// TestNATSPermissions runs the pinned nats-server with deploy/nats/nats.conf and
// checks that each service can do its job with its own user and nothing more:
// publish its own events, consume with its own consumer, and — for identity only —
// send SMS, which only the SMS gateway may read.
func TestNATSPermissions(t *testing.T) {
	t.Parallel()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := testenv.Bin("nats-server")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := testenv.FreeAddr()
	monitor, _ := testenv.FreeAddr()
	_, port, _ := net.SplitHostPort(addr)
	_, mport, _ := net.SplitHostPort(monitor)
	dir := t.TempDir()
	passwords := map[string]string{}
	var env []string
	for _, u := range []string{"identity", "device", "contacts", "audit", "smsgateway"} {
		passwords[u] = testenv.RandomID(8)
		env = append(env, strings.ToUpper(u)+"_NATS_PASSWORD="+passwords[u])
	}
	proc, err := testenv.StartProcess(io.Discard, bin, []string{"-c", filepath.Join(root, "deploy/nats/nats.conf"),
		"-a", "127.0.0.1", "-p", port, "-m", mport, "-sd", dir}, env, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proc.Stop)
	url := "nats://" + addr
	connect := func(user string) *nats.Conn {
		t.Helper()
		var nc *nats.Conn
		deadline := time.Now().Add(10 * time.Second)
		for {
			nc, err = events.Connect(url, user, events.Credentials{User: user, Password: passwords[user]}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil && nc.IsConnected() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("connect as %s: %v", user, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	js := func(nc *nats.Conn) jetstream.JetStream {
		j, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	ctx := context.Background()
	stream := events.StreamConfig("AMANCAIR", "amancair")
	publish := func(j jetstream.JetStream, subject, source, typ string) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		id := uuid.NewString()
		body := `{"specversion":"1.0","id":"` + id + `","source":"/amancair/` + source + `","type":"` + typ +
			`","time":"2026-11-26T01:00:00Z","data":{"subject_user_id":7}}`
		_, err := j.Publish(ctx, subject, []byte(body), jetstream.WithMsgID(id))
		return err
	}

	identity, device, audit, gateway := connect("identity"), connect("device"), connect("audit"), connect("smsgateway")
	if err := events.EnsureStream(ctx, js(identity), stream); err != nil {
		t.Fatalf("identity creating the stream: %v", err)
	}
	if err := publish(js(identity), "amancair.identity.user.created", "identity", "user.created"); err != nil {
		t.Errorf("identity publishing its own event: %v", err)
	}
	if err := publish(js(device), "amancair.identity.user.erased", "identity", "user.erased"); err == nil {
		t.Error("device published an event in identity's name")
	}
	if err := publish(js(device), "amancair.device.device.registered", "device", "device.registered"); err != nil {
		t.Errorf("device publishing its own event: %v", err)
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if err := js(device).DeleteStream(dctx, "AMANCAIR"); err == nil {
		t.Error("device deleted the stream")
	}
	cancel()

	// device's projection consumer and audit's consumer work with their users.
	for _, c := range []struct {
		nc      *nats.Conn
		durable string
		filter  string
	}{{device, "device-users", "amancair.identity.user.>"}, {audit, "audit", "amancair.>"}} {
		consumer, err := events.NewConsumer(c.nc, stream, c.durable, []string{c.filter}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got := make(chan string, 10)
		go func() {
			_ = consumer.Run(cctx, func(_ context.Context, batch []events.Message) error {
				for _, m := range batch {
					got <- m.Event.Type
				}
				return nil
			})
		}()
		select {
		case typ := <-got:
			if typ != "user.created" {
				t.Errorf("%s consumed %s first", c.durable, typ)
			}
		case <-cctx.Done():
			t.Errorf("%s consumed nothing with its own user's permissions", c.durable)
		}
		cancel()
	}

	// audit reads the newest published checkpoint back from the stream.
	if err := publish(js(audit), "amancair.audit.chain.checkpointed", "audit", "chain.checkpointed"); err != nil {
		t.Errorf("audit publishing a checkpoint: %v", err)
	}
	gctx, gcancel := context.WithTimeout(ctx, 3*time.Second)
	if st, err := js(audit).Stream(gctx, "AMANCAIR"); err != nil {
		t.Errorf("audit reading the stream: %v", err)
	} else if _, err := st.GetLastMsgForSubject(gctx, "amancair.audit.chain.checkpointed"); err != nil {
		t.Errorf("audit reading its last checkpoint back: %v", err)
	}
	gcancel()

	// Nobody reads another service's inbox, where its deliveries arrive.
	for _, subject := range []string{"_INBOX.>", "_INBOX_audit.>"} {
		nc := connect("device")
		if _, err := nc.SubscribeSync(subject); err == nil {
			_ = nc.Flush()
			time.Sleep(200 * time.Millisecond)
			if le := nc.LastError(); le == nil || !strings.Contains(strings.ToLower(le.Error()), "permission") {
				t.Errorf("device subscribing to %s: last error %v, want a permissions violation", subject, le)
			}
		}
	}

	// SMS: identity sends, only the gateway reads.
	if _, err := device.SubscribeSync("notifications.sms"); err == nil {
		_ = device.Flush()
		time.Sleep(200 * time.Millisecond)
		if le := device.LastError(); le == nil || !strings.Contains(strings.ToLower(le.Error()), "permission") {
			t.Errorf("device subscribing to notifications.sms: last error %v, want a permissions violation", le)
		}
	}
	sub, err := gateway.SubscribeSync("notifications.sms")
	if err != nil {
		t.Fatal(err)
	}
	_ = gateway.Flush()
	if err := identity.Publish("notifications.sms", []byte(`{"to":"+628123456789"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Errorf("the SMS gateway did not get identity's SMS: %v", err)
	}
}
