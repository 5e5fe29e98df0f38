// Command bench is `make bench`: it brings up a throwaway stack (its own database,
// free ports) and drives the blueprint's endpoints through the gateway with vegeta,
// at fixed rate steps and then flat out, printing per endpoint and step the
// throughput achieved, p50 and p99 latency and the number of errors. It is a
// benchmark, not a test: it asserts nothing.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"amancair.dev/devstack"
	"amancair.dev/pkg/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type step struct {
	name string
	rate vegeta.Rate // Freq 0: as fast as the workers go
}

func run() error {
	stepDur := flag.Duration("step", 5*time.Second, "duration of each load step")
	rates := []int{50, 100, 200}
	maxWorkers := flag.Uint64("max-workers", 32, "concurrent workers in the max-throughput step")
	logPath := flag.String("log", os.DevNull, "file for the stack's logs")
	events := flag.Int("events", 20000, "events for the relay and audit throughput run")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logf, err := os.Create(*logPath)
	if err != nil {
		return err
	}
	defer logf.Close()

	fmt.Fprintln(os.Stderr, "starting a throwaway stack…")
	smsSubject := "bench." + testenv.RandomID(6) + ".notifications.sms"
	stack, err := devstack.Start(ctx, devstack.Options{Ephemeral: true, Log: logf, ServiceEnv: []string{"SMS_SUBJECT=" + smsSubject}})
	if err != nil {
		return err
	}
	defer stack.Stop()
	token, err := staffToken(ctx, stack, smsSubject)
	if err != nil {
		return fmt.Errorf("log in the bench's staff user: %w", err)
	}

	steps := []step{}
	for _, r := range rates {
		steps = append(steps, step{strconv.Itoa(r) + "/s", vegeta.Rate{Freq: r, Per: time.Second}})
	}
	steps = append(steps, step{fmt.Sprintf("max (%d workers)", *maxWorkers), vegeta.Rate{Freq: 0}})

	b := &bench{base: stack.GatewayURL, runID: rand.Uint32() % 1000,
		authed: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}}}
	endpoints := []struct {
		name     string
		targeter vegeta.Targeter
	}{
		{"POST /users/", b.registerUser},
		{"GET /users/{id}", b.getUser},
		{"POST /emergency/{id}", b.addContact},
		{"GET /emergency/{id}", b.listContacts},
	}

	const row = "%-22s %-17s %9v %15v %10v %10v %7v\n"
	fmt.Printf(row, "endpoint", "step", "requests", "achieved req/s", "p50", "p99", "errors")
	for _, ep := range endpoints {
		for _, st := range steps {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m := attack(ep.targeter, st, *stepDur, *maxWorkers)
			fmt.Printf(row, ep.name, st.name, m.Requests, fmt.Sprintf("%.1f", m.Throughput),
				round(m.Latencies.P50), round(m.Latencies.P99), errorCount(m))
		}
		if ep.name == "POST /users/" {
			b.users = b.created.Load()
		}
	}
	return eventThroughput(ctx, stack, *events)
}

// eventThroughput writes n events straight into identity's outbox in one
// transaction, then times how fast the relay publishes them to JetStream and how
// fast the audit service stores them in its chain.
func eventThroughput(ctx context.Context, stack *devstack.Stack, n int) error {
	conn, err := pgx.Connect(ctx, stack.DatabaseURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var base int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit.audit_log`).Scan(&base); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `
		INSERT INTO identity.outbox (event_id, subject, event)
		SELECT u, $1, jsonb_build_object('specversion', '1.0', 'id', u::text, 'source', '/amancair/identity',
			'type', 'user.viewed', 'time', now(), 'datacontenttype', 'application/json',
			'data', jsonb_build_object('subject_user_id', g, 'actor_roles', '[]'::jsonb))
		FROM (SELECT gen_random_uuid() AS u, g FROM generate_series(1, $2::int) g) ids`,
		stack.EventsPrefix+".identity.user.viewed", n); err != nil {
		return err
	}
	start := time.Now()
	var relayed, audited time.Duration
	for relayed == 0 || audited == 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > 5*time.Minute {
			return fmt.Errorf("events not through after 5 minutes")
		}
		var backlog, stored int
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM identity.outbox WHERE sent_at IS NULL),
			(SELECT count(*) FROM audit.audit_log)`).Scan(&backlog, &stored); err != nil {
			return err
		}
		if backlog == 0 && relayed == 0 {
			relayed = time.Since(start)
		}
		if stored >= base+n && audited == 0 {
			audited = time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("\n%d events written to identity's outbox in one transaction:\n", n)
	fmt.Printf("  relay (outbox -> JetStream, acknowledged):      %6.0f events/s  (%v)\n", float64(n)/relayed.Seconds(), relayed.Round(time.Millisecond))
	fmt.Printf("  audit (outbox -> JetStream -> hash chain):      %6.0f events/s  (%v)\n", float64(n)/audited.Seconds(), audited.Round(time.Millisecond))
	return nil
}

func attack(tr vegeta.Targeter, st step, d time.Duration, maxWorkers uint64) *vegeta.Metrics {
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(10 * time.Second)}
	if st.rate.Freq == 0 {
		opts = append(opts, vegeta.Workers(maxWorkers), vegeta.MaxWorkers(maxWorkers))
	}
	var m vegeta.Metrics
	for res := range vegeta.NewAttacker(opts...).Attack(tr, st.rate, d, st.name) {
		m.Add(res)
	}
	m.Close()
	return &m
}

// errorCount counts responses that are not 2xx, including transport failures (code 0).
func errorCount(m *vegeta.Metrics) int {
	n := 0
	for code, c := range m.StatusCodes {
		if code == "" || code[0] != '2' {
			n += c
		}
	}
	return n
}

func round(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }

// bench makes the targets: unique users to register, then reads and contacts
// spread over the users registered.
type bench struct {
	base     string
	authed   http.Header // an ops user's token: staff may read and add for anyone
	runID    uint32
	seq      atomic.Int64
	created  atomic.Int64
	users    int64
	contacts atomic.Int64
}

var jsonHeader = http.Header{"Content-Type": []string{"application/json"}}

func (b *bench) registerUser(t *vegeta.Target) error {
	n := b.seq.Add(1)
	b.created.Store(n) // ids are dense in a fresh database, give or take failures
	body, _ := json.Marshal(map[string]string{
		"name":  "Bench User",
		"phone": fmt.Sprintf("+62812%03d%05d", b.runID, n),
		"email": fmt.Sprintf("bench%d@example.com", n),
	})
	*t = vegeta.Target{Method: http.MethodPost, URL: b.base + "/users/", Body: body, Header: jsonHeader}
	return nil
}

func (b *bench) randomUser() int64 { return 1 + rand.Int64N(max(b.users, 1)) }

func (b *bench) getUser(t *vegeta.Target) error {
	*t = vegeta.Target{Method: http.MethodGet, URL: fmt.Sprintf("%s/users/%d", b.base, b.randomUser()), Header: b.authed}
	return nil
}

// addContact gives each user up to five contacts, the contract's limit.
func (b *bench) addContact(t *vegeta.Target) error {
	n := b.contacts.Add(1) - 1
	user := 1 + n/5
	body, _ := json.Marshal(map[string]any{
		"contact_name": "Siti", "contact_phone": fmt.Sprintf("+62811%08d", n),
		"relation": "sibling", "is_primary": n%5 == 0,
	})
	*t = vegeta.Target{Method: http.MethodPost, URL: fmt.Sprintf("%s/emergency/%d", b.base, user), Body: body, Header: b.authed}
	return nil
}

func (b *bench) listContacts(t *vegeta.Target) error {
	users := max(b.contacts.Load()/5, 1)
	*t = vegeta.Target{Method: http.MethodGet, URL: fmt.Sprintf("%s/emergency/%d", b.base, 1+rand.Int64N(users)), Header: b.authed}
	return nil
}

// staffToken registers the bench's operator, grants it the ops role with
// `identity grant-role`, and logs it in with the code read from the SMS subject.
func staffToken(ctx context.Context, stack *devstack.Stack, smsSubject string) (string, error) {
	const phone = "+628190000001"
	nc, err := nats.Connect(stack.NATSURL)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(smsSubject)
	if err != nil {
		return "", err
	}
	if _, err := post(stack.GatewayURL+"/users/", `{"name":"Bench Operator","phone":"`+phone+`","email":"ops@bench.example"}`, http.StatusCreated); err != nil {
		return "", err
	}
	if err := stack.Command(ctx, "identity", "grant-role", "--phone", phone, "--role", "ops"); err != nil {
		return "", err
	}
	if _, err := post(stack.GatewayURL+"/auth/otp", `{"phone":"`+phone+`"}`, http.StatusAccepted); err != nil {
		return "", err
	}
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		return "", err
	}
	var sms struct {
		Params struct{ Code string } `json:"params"`
	}
	if err := json.Unmarshal(msg.Data, &sms); err != nil {
		return "", err
	}
	body, err := post(stack.GatewayURL+"/auth/token", `{"phone":"`+phone+`","code":"`+sms.Params.Code+`"}`, http.StatusOK)
	if err != nil {
		return "", err
	}
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	return tokens.AccessToken, json.Unmarshal(body, &tokens)
}

func post(url, body string, want int) ([]byte, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("POST %s = %d %s", url, resp.StatusCode, data)
	}
	return data, nil
}
