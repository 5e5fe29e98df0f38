package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	"amancair.dev/pkg/testenv"
	"amancair.dev/services/contacts/internal/app"
	"amancair.dev/services/contacts/internal/httpapi"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func start(t *testing.T) *testenv.Client {
	t.Helper()
	svc := testenv.StartService(t, app.Run, testenv.Database(t).ServiceEnv("contacts"))
	return testenv.NewClient(t, svc.URL, httpapi.OpenAPI)
}

func TestBlueprintContactExamples(t *testing.T) {
	t.Parallel()
	api := start(t)
	r := api.Do("POST", "/emergency/1", []byte(`{"contact_name":"Siti","contact_phone":"+628111222333","relation":"spouse","is_primary":true}`))
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
	r = api.Do("GET", "/emergency/1", nil)
	decode(t, r.Body, &list)
	if r.Status != http.StatusOK || len(list) != 1 || list[0]["id"] != c["id"] {
		t.Errorf("GET /emergency/1 = %d %s, want the one contact", r.Status, r.Body)
	}
	if empty := api.Do("GET", "/emergency/2", nil); string(empty.Body) != "[]" {
		t.Errorf("GET /emergency/2 = %s, want []", empty.Body)
	}
}

func TestPrimaryMovesAndListOrder(t *testing.T) {
	t.Parallel()
	api := start(t)
	add := func(name, phone string, primary bool) {
		t.Helper()
		r := api.JSON("POST", "/emergency/7", map[string]any{"contact_name": name, "contact_phone": phone, "relation": "sibling", "is_primary": primary})
		if r.Status != http.StatusCreated {
			t.Fatalf("add %s = %d %s", name, r.Status, r.Body)
		}
	}
	add("A", "+628111000001", true)
	add("B", "+628111000002", false)
	add("C", "+628111000003", true)

	var list []map[string]any
	r := api.Do("GET", "/emergency/7", nil)
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
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	for i := range 8 {
		wg.Go(func() {
			r := api.JSON("POST", "/emergency/9", map[string]any{"contact_name": "K", "contact_phone": fmt.Sprintf("+62811100001%d", i), "is_primary": true})
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
	decode(t, api.Do("GET", "/emergency/9", nil).Body, &list)
	primaries := 0
	for _, c := range list {
		if c["is_primary"] == true {
			primaries++
		}
	}
	if len(list) != 5 || primaries != 1 {
		t.Errorf("user has %d contacts and %d primaries, want 5 and 1", len(list), primaries)
	}

	api.JSON("POST", "/emergency/10", map[string]any{"contact_name": "D", "contact_phone": "+628111222333"})
	if r := api.JSON("POST", "/emergency/10", map[string]any{"contact_name": "D2", "contact_phone": "08111222333"}); r.Status != http.StatusConflict {
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
			if r := api.Do("POST", tc.path, []byte(tc.body)); r.Status != tc.status {
				t.Errorf("status = %d %s, want %d", r.Status, r.Body, tc.status)
			}
		})
	}
	if r := api.Do("GET", "/emergency/1", nil); string(r.Body) != "[]" {
		t.Errorf("rejected requests wrote contacts: %s", r.Body)
	}
}

func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}
