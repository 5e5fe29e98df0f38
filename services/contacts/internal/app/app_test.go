package app_test

import (
	"encoding/json"
	"fmt"
	"github.com/jackc/pgx/v5"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"amancair.dev/pkg/testenv"
	"amancair.dev/services/contacts/internal/app"
	"amancair.dev/services/contacts/internal/httpapi"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// stack is a contacts service of the test's own, trusting a test token issuer.
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
	env := issuer.Env(db.ServiceEnv("contacts"))
	svc := testenv.StartService(t, app.Run, env)
	return &stack{Client: testenv.NewClient(t, svc.URL, httpapi.OpenAPI), tokens: issuer, env: env, db: db}
}

// announce publishes identity's event for userID and waits until the service's
// projection reflects it (staff listing answers wantStatus).
func (s *stack) announce(t *testing.T, userID int64, typ string, wantStatus int) {
	t.Helper()
	testenv.AnnounceUser(t, s.env, userID, typ)
	ops := s.tokens.Bearer(999, "ops")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.Do("GET", fmt.Sprintf("/emergency/%d", userID), nil, ops).Status == wantStatus {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the projection did not apply %s for user %d", typ, userID)
}

func TestBlueprintContactExamples(t *testing.T) {
	t.Parallel()
	api := start(t)
	user1 := api.tokens.Bearer(1)
	r := api.Do("POST", "/emergency/1", []byte(`{"contact_name":"Siti","contact_phone":"+628111222333","relation":"spouse","is_primary":true}`), user1)
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /emergency/1 = %d %s", r.Status, r.Body)
	}
	c := r.JSON(t)
	for k, want := range map[string]any{"user_id": float64(1), "contact_name": "Siti", "contact_phone": "+628111222333",
		"relation": "spouse", "is_primary": true} {
		if c[k] != want {
			t.Errorf("%s = %v, want %v", k, c[k], want)
		}
	}
	var list []map[string]any
	r = api.Do("GET", "/emergency/1", nil, user1)
	decode(t, r.Body, &list)
	if r.Status != http.StatusOK || len(list) != 1 || list[0]["id"] != c["id"] {
		t.Errorf("GET /emergency/1 = %d %s, want the one contact", r.Status, r.Body)
	}
	if empty := api.Do("GET", "/emergency/2", nil, api.tokens.Bearer(2)); string(empty.Body) != "[]" {
		t.Errorf("GET /emergency/2 = %s, want []", empty.Body)
	}
}

func TestPrimaryMovesAndListOrder(t *testing.T) {
	t.Parallel()
	api := start(t)
	add := func(name, phone string, primary bool) {
		t.Helper()
		r := api.JSON("POST", "/emergency/7", map[string]any{"contact_name": name, "contact_phone": phone, "relation": "sibling", "is_primary": primary}, api.tokens.Bearer(7))
		if r.Status != http.StatusCreated {
			t.Fatalf("add %s = %d %s", name, r.Status, r.Body)
		}
	}
	add("A", "+628111000001", true)
	add("B", "+628111000002", false)
	add("C", "+628111000003", true)

	var list []map[string]any
	r := api.Do("GET", "/emergency/7", nil, api.tokens.Bearer(7))
	decode(t, r.Body, &list)
	var names []string
	primaries := 0
	for _, c := range list {
		names = append(names, c["contact_name"].(string))
		if c["is_primary"] == true {
			primaries++
		}
	}
	if fmt.Sprint(names) != "[C A B]" || primaries != 1 {
		t.Errorf("list = %v with %d primaries, want [C A B] with 1", names, primaries)
	}
}

func TestLimitAndDuplicates(t *testing.T) {
	t.Parallel()
	api := start(t)
	user9 := api.tokens.Bearer(9)
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for i := range 8 {
		wg.Go(func() {
			r := api.JSON("POST", "/emergency/9", map[string]any{"contact_name": "K", "contact_phone": fmt.Sprintf("+62811100001%d", i), "is_primary": true}, user9)
			statuses <- r.Status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusCreated] != 5 || count[http.StatusConflict] != 3 {
		t.Errorf("8 concurrent adds gave %v, want 5×201 and 3×409", count)
	}
	var list []map[string]any
	decode(t, api.Do("GET", "/emergency/9", nil, user9).Body, &list)
	primaries := 0
	for _, c := range list {
		if c["is_primary"] == true {
			primaries++
		}
	}
	if len(list) != 5 || primaries != 1 {
		t.Errorf("user has %d contacts and %d primaries, want 5 and 1", len(list), primaries)
	}

	user10 := api.tokens.Bearer(10)
	api.JSON("POST", "/emergency/10", map[string]any{"contact_name": "D", "contact_phone": "+628111222333"}, user10)
	if r := api.JSON("POST", "/emergency/10", map[string]any{"contact_name": "D2", "contact_phone": "08111222333"}, user10); r.Status != http.StatusConflict {
		t.Errorf("same phone twice = %d %s, want 409", r.Status, r.Body)
	}
}

func TestContactRejects(t *testing.T) {
	t.Parallel()
	api := start(t)
	for _, tc := range []struct {
		name, path, body string
		status           int
	}{
		{"bad relation", "/emergency/1", `{"contact_name":"Siti","contact_phone":"+628111222333","relation":"boss"}`, http.StatusUnprocessableEntity},
		{"is_primary as string", "/emergency/1", `{"contact_name":"Siti","contact_phone":"+628111222333","is_primary":"yes"}`, http.StatusBadRequest},
		{"user id not a number", "/emergency/abc", `{"contact_name":"Siti","contact_phone":"+628111222333"}`, http.StatusNotFound},
		{"negative user id", "/emergency/-1", `{"contact_name":"Siti","contact_phone":"+628111222333"}`, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := api.Do("POST", tc.path, []byte(tc.body), api.tokens.Bearer(1)); r.Status != tc.status {
				t.Errorf("status = %d %s, want %d", r.Status, r.Body, tc.status)
			}
		})
	}
	if r := api.Do("GET", "/emergency/1", nil, api.tokens.Bearer(1)); string(r.Body) != "[]" {
		t.Errorf("rejected requests wrote contacts: %s", r.Body)
	}
}

func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}

func TestReplaceRemoveAndAuthorization(t *testing.T) {
	t.Parallel()
	api := start(t)
	alice, bob := api.tokens.Bearer(21), api.tokens.Bearer(22)
	add := func(tok, name, phone string, primary bool) map[string]any {
		t.Helper()
		r := api.JSON("POST", "/emergency/22", map[string]any{"contact_name": name, "contact_phone": phone, "is_primary": primary}, tok)
		if r.Status != http.StatusCreated {
			t.Fatalf("add = %d %s", r.Status, r.Body)
		}
		return r.JSON(t)
	}
	a := add(bob, "Ani", "+628111000021", true)
	b := add(bob, "Budi", "+628111000022", false)
	path := func(c map[string]any) string { return fmt.Sprintf("/emergency/22/%v", c["id"]) }

	r := api.JSON("PUT", path(b), map[string]any{"contact_name": "Budi S", "contact_phone": "+628111000023", "relation": "friend", "is_primary": true}, bob)
	if r.Status != http.StatusOK || r.JSON(t)["is_primary"] != true || r.JSON(t)["contact_name"] != "Budi S" {
		t.Fatalf("PUT = %d %s", r.Status, r.Body)
	}
	var list []map[string]any
	decode(t, api.Do("GET", "/emergency/22", nil, bob).Body, &list)
	if len(list) != 2 || list[0]["id"] != b["id"] || list[1]["is_primary"] != false {
		t.Errorf("after making B primary: %v", list)
	}

	// Alice may not read, add, change or remove Bob's contacts, and learns nothing.
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/emergency/22", nil},
		{"POST", "/emergency/22", map[string]any{"contact_name": "X", "contact_phone": "+628111000029"}},
		{"PUT", path(a), map[string]any{"contact_name": "X", "contact_phone": "+628111000029"}},
		{"DELETE", path(a), nil},
		{"PUT", fmt.Sprintf("/emergency/21/%v", a["id"]), map[string]any{"contact_name": "X", "contact_phone": "+628111000029"}},
		{"DELETE", fmt.Sprintf("/emergency/21/%v", a["id"]), nil},
	} {
		var r testenv.Response
		if tc.body != nil {
			r = api.JSON(tc.method, tc.path, tc.body, alice)
		} else {
			r = api.Do(tc.method, tc.path, nil, alice)
		}
		if r.Status != http.StatusNotFound || strings.Contains(string(r.Body), "Ani") {
			t.Errorf("alice %s %s = %d %s, want 404 without Bob's data", tc.method, tc.path, r.Status, r.Body)
		}
	}
	if r := api.Do("GET", "/emergency/22", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("no token = %d, want 401", r.Status)
	}
	if r := api.Do("GET", "/emergency/22", nil, api.tokens.Bearer(5, "auditor")); r.Status != http.StatusNotFound {
		t.Errorf("auditor = %d, want 404", r.Status)
	}
	if r := api.Do("GET", "/emergency/22", nil, api.tokens.Bearer(5, "ops")); r.Status != http.StatusNotFound {
		t.Errorf("ops before identity announced the user = %d, want 404", r.Status)
	}
	api.announce(t, 22, "user.created", http.StatusOK)

	if r := api.Do("DELETE", path(a), nil, bob); r.Status != http.StatusNoContent {
		t.Errorf("DELETE = %d %s", r.Status, r.Body)
	}
	if r := api.Do("DELETE", path(a), nil, bob); r.Status != http.StatusNotFound {
		t.Errorf("DELETE again = %d, want 404", r.Status)
	}
	decode(t, api.Do("GET", "/emergency/22", nil, bob).Body, &list)
	if len(list) != 1 {
		t.Errorf("after delete: %v", list)
	}

	// Erasure: identity's user.erased makes the service delete the user's contacts.
	api.announce(t, 22, "user.erased", http.StatusNotFound)
	conn, err := pgx.Connect(t.Context(), api.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var left int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM contacts.emergency_contacts WHERE user_id = 22)
		+ (SELECT count(*) FROM contacts.data_keys WHERE user_id = 22)`).Scan(&left); err != nil || left != 0 {
		t.Errorf("bob's contacts and data key after erasure: %d rows left (%v)", left, err)
	}
	// Bob's token outlives the erasure by up to 15 minutes; it must not bring
	// personal data back.
	if r := api.JSON("POST", "/emergency/22", map[string]any{"contact_name": "Again", "contact_phone": "+628111000099"}, bob); r.Status != http.StatusNotFound {
		t.Errorf("an erased user adding a contact = %d, want 404", r.Status)
	}
}
