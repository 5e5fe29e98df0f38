package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"amancair.dev/pkg/testenv"
	"amancair.dev/services/audit/internal/app"
	"amancair.dev/services/audit/internal/httpapi"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

type stack struct {
	*testenv.Client
	tokens *testenv.TokenIssuer
	env    map[string]string
	db     *testenv.DB
}

func start(t *testing.T) *stack {
	t.Helper()
	issuer := testenv.NewTokenIssuer(t)
	db := testenv.Database(t)
	env := issuer.Env(db.ServiceEnv("audit"))
	env["AUDIT_CHECKPOINT_INTERVAL"] = "200ms"
	svc := testenv.StartService(t, app.Run, env)
	return &stack{Client: testenv.NewClient(t, svc.URL, httpapi.OpenAPI), tokens: issuer, env: env, db: db}
}

type page struct {
	Items []struct {
		Seq           int64    `json:"seq"`
		EventID       string   `json:"event_id"`
		Type          string   `json:"type"`
		Service       string   `json:"service"`
		SubjectUserID *int64   `json:"subject_user_id"`
		ActorRoles    []string `json:"actor_roles"`
		Hash          string   `json:"hash"`
		PrevHash      string   `json:"prev_hash"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// waitFor polls the trail until it holds n entries.
func (s *stack) waitFor(t *testing.T, n int) page {
	t.Helper()
	auditor := s.tokens.Bearer(1, "auditor")
	deadline := time.Now().Add(20 * time.Second)
	var p page
	for time.Now().Before(deadline) {
		r := s.Do("GET", "/audit/events?limit=200", nil, auditor)
		if r.Status == http.StatusOK && json.Unmarshal(r.Body, &p) == nil && len(p.Items) >= n {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("trail has %d entries after 20s, want %d", len(p.Items), n)
	return p
}

func TestEventsAreStoredOnceInAChain(t *testing.T) {
	t.Parallel()
	s := start(t)
	// A malformed event first: it is dropped, and does not stall what follows.
	testenv.Publish(t, s.env, "identity", "user.created", "not-a-uuid", map[string]any{"subject_user_id": 99})
	ids := make([]string, 6)
	for i := range ids {
		ids[i] = uuid.NewString()
		testenv.Publish(t, s.env, "identity", "user.created", ids[i], map[string]any{"subject_user_id": i + 1, "actor_roles": []string{}})
	}
	// The same event again, as a relay retry after a lost acknowledgement, long
	// after JetStream's duplicate window would have forgotten it.
	testenv.Republish(t, s.env, "identity", "user.created", ids[0], map[string]any{"subject_user_id": 1})
	testenv.Publish(t, s.env, "device", "device.registered", uuid.NewString(), map[string]any{"subject_user_id": 2, "fields": []string{"android_id"}})

	p := s.waitFor(t, 7)
	time.Sleep(500 * time.Millisecond)
	p = s.waitFor(t, 7)
	if len(p.Items) != 7 {
		t.Fatalf("trail has %d entries, want 7 (the duplicate stored once)", len(p.Items))
	}
	for i, e := range p.Items {
		if e.Seq != int64(7-i) {
			t.Errorf("entry %d has seq %d: want gap-free, newest first", i, e.Seq)
		}
		if i+1 < len(p.Items) && e.PrevHash != p.Items[i+1].Hash {
			t.Errorf("seq %d prev_hash does not link to seq %d", e.Seq, p.Items[i+1].Seq)
		}
	}
	if p.Items[0].Type != "device.registered" || p.Items[0].Service != "device" {
		t.Errorf("newest entry = %+v", p.Items[0])
	}

	// Filters and paging.
	var byUser page
	r := s.Do("GET", "/audit/events?subject_user_id=2", nil, s.tokens.Bearer(1, "admin"))
	if json.Unmarshal(r.Body, &byUser); len(byUser.Items) != 2 {
		t.Errorf("subject_user_id=2 gave %d entries, want 2", len(byUser.Items))
	}
	var first, second page
	json.Unmarshal(s.Do("GET", "/audit/events?limit=4", nil, s.tokens.Bearer(1, "auditor")).Body, &first)
	if first.NextCursor == nil || len(first.Items) != 4 {
		t.Fatalf("first page = %+v", first)
	}
	json.Unmarshal(s.Do("GET", "/audit/events?limit=4&cursor="+*first.NextCursor, nil, s.tokens.Bearer(1, "auditor")).Body, &second)
	if len(second.Items) != 3 || second.Items[0].Seq != 3 || second.NextCursor != nil {
		t.Errorf("second page = %+v", second)
	}
	if r := s.Do("GET", "/audit/events?limit=0&since=yesterday&actor_id=x", nil, s.tokens.Bearer(1, "auditor")); r.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(string(r.Body), `"limit"`) || !strings.Contains(string(r.Body), `"since"`) || !strings.Contains(string(r.Body), `"actor_id"`) {
		t.Errorf("bad query = %d %s", r.Status, r.Body)
	}

	if v := s.verify(t); v["ok"] != true || v["checked"] != float64(7) {
		t.Errorf("verify = %v", v)
	}
}

func (s *stack) verify(t *testing.T) map[string]any {
	t.Helper()
	r := s.Do("GET", "/audit/verify", nil, s.tokens.Bearer(1, "auditor"))
	if r.Status != http.StatusOK {
		t.Fatalf("verify = %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

func TestOnlyAuditorsAndAdminsRead(t *testing.T) {
	t.Parallel()
	s := start(t)
	for _, role := range []string{"customer", "ops"} {
		for _, path := range []string{"/audit/events", "/audit/verify"} {
			if r := s.Do("GET", path, nil, s.tokens.Bearer(5, role)); r.Status != http.StatusForbidden {
				t.Errorf("%s on %s = %d, want 403", role, path, r.Status)
			}
		}
	}
	if r := s.Do("GET", "/audit/events", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("no token = %d, want 401", r.Status)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	t.Parallel()
	s := start(t)
	for i := range 5 {
		testenv.Publish(t, s.env, "contacts", "contact.added", uuid.NewString(), map[string]any{"subject_user_id": i + 1})
	}
	s.waitFor(t, 5)
	ctx := context.Background()

	// The serving role cannot change the trail at all.
	app, err := pgx.Connect(ctx, s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	for _, stmt := range []string{`UPDATE audit_log SET type = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := app.Exec(ctx, stmt); err == nil {
			t.Errorf("serving role ran %q", stmt)
		}
	}
	// Nor can a superuser without switching the guard off first.
	admin, err := pgx.Connect(ctx, s.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `UPDATE audit.audit_log SET type = 'x' WHERE seq = 3`); err == nil {
		t.Error("the append-only trigger let a superuser update a row")
	}
	// A superuser who does switch it off is caught by the chain.
	if _, err := admin.Exec(ctx, `SET session_replication_role = replica; UPDATE audit.audit_log SET subject_user_id = 42 WHERE seq = 3; SET session_replication_role = origin`); err != nil {
		t.Fatal(err)
	}
	if v := s.verify(t); v["ok"] != false || v["first_broken_seq"] != float64(3) {
		t.Errorf("verify after tampering with seq 3 = %v", v)
	}
	var out strings.Builder
	if err := runAudit(s, []string{"verify"}, &out); err == nil || !strings.Contains(out.String(), `"first_broken_seq":3`) {
		t.Errorf("audit verify = %v, %s; want failure naming seq 3", err, out.String())
	}
}

func runAudit(s *stack, args []string, out *strings.Builder) error {
	return app.Run(context.Background(), args, testenv.Getenv(s.env), out)
}

// Two audit replicas consuming the same stream keep one gap-free, valid chain.
func TestReplicasKeepOneChain(t *testing.T) {
	t.Parallel()
	s := start(t)
	second := testenv.StartService(t, app.Run, cloneEnv(s.env))
	_ = second
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				testenv.Publish(t, s.env, "identity", "user.viewed", uuid.NewString(), map[string]any{"subject_user_id": w*100 + i + 1})
			}
		})
	}
	wg.Wait()
	s.waitFor(t, 200)
	if v := s.verify(t); v["ok"] != true || v["checked"] != float64(200) {
		t.Errorf("verify with two replicas = %v", v)
	}
}

func cloneEnv(env map[string]string) map[string]string {
	c := make(map[string]string, len(env))
	for k, v := range env {
		c[k] = v
	}
	return c
}

// Cutting the trail's tail leaves a chain that is consistent on its own, but the
// signed checkpoint of the head it once had gives it away.
func TestCutTailIsDetected(t *testing.T) {
	t.Parallel()
	s := start(t)
	for i := range 5 {
		testenv.Publish(t, s.env, "identity", "user.viewed", uuid.NewString(), map[string]any{"subject_user_id": i + 1})
	}
	s.waitFor(t, 5)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var head int64
		conn, err := pgx.Connect(context.Background(), s.db.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.QueryRow(context.Background(), `SELECT coalesce(max(seq), 0) FROM audit.audit_checkpoints`).Scan(&head)
		conn.Close(context.Background())
		if head == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of seq 5 after 10s (newest %d)", head)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := s.verify(t); v["ok"] != true || v["checkpoints"] == float64(0) {
		t.Fatalf("verify before the cut = %v", v)
	}
	admin, err := pgx.Connect(context.Background(), s.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	// Wait until the checkpoint is published outside the database too.
	time.Sleep(time.Second)
	// The attacker cuts the tail and, to hide it, every checkpoint in the table.
	if _, err := admin.Exec(context.Background(), `SET session_replication_role = replica;
		DELETE FROM audit.audit_log WHERE seq > 3; DELETE FROM audit.audit_checkpoints;
		SET session_replication_role = origin`); err != nil {
		t.Fatal(err)
	}
	if v := s.verify(t); v["ok"] != false || v["first_broken_seq"] != float64(4) {
		t.Errorf("verify after cutting seq 4 and 5 and every stored checkpoint = %v, want broken at 4", v)
	}
}
