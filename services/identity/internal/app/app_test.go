package app_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"amancair.dev/pkg/testenv"
	"amancair.dev/services/identity/internal/app"
	"amancair.dev/services/identity/internal/httpapi"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var phoneSeq atomic.Int64

// uniquePhone returns a valid mobile number no other test in this run uses.
func uniquePhone() string {
	return fmt.Sprintf("+62812%07d", time.Now().UnixNano()%1e6*10+phoneSeq.Add(1)%10)
}

// stack is one identity service of a test's own, with its SMS subject watched.
type stack struct {
	*testenv.Client
	sms  *testenv.Inbox
	db   *testenv.DB
	vars map[string]string
	svc  *testenv.Service
}

func startStack(t *testing.T, extra ...string) *stack {
	t.Helper()
	db := testenv.Database(t)
	vars := db.ServiceEnv("identity")
	vars["SMS_SUBJECT"] = "test." + testenv.RandomID(6) + ".notifications.sms"
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	inbox := testenv.Subscribe(t, vars["NATS_URL"], vars["SMS_SUBJECT"])
	svc := testenv.StartService(t, app.Run, vars)
	return &stack{Client: testenv.NewClient(t, svc.URL, httpapi.OpenAPI), sms: inbox, db: db, vars: vars, svc: svc}
}

func start(t *testing.T) *stack { return startStack(t) }

// register creates a user and returns its id.
func (s *stack) register(t *testing.T, phone, email string) int64 {
	t.Helper()
	r := s.JSON("POST", "/users/", map[string]any{"name": "Test User", "phone": phone, "email": email})
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s = %d %s", phone, r.Status, r.Body)
	}
	return int64(r.JSON(t)["id"].(float64))
}

// login runs the OTP flow for phone and returns the token response.
func (s *stack) login(t *testing.T, phone string) map[string]any {
	t.Helper()
	if r := s.JSON("POST", "/auth/otp", map[string]any{"phone": phone}); r.Status != http.StatusAccepted {
		t.Fatalf("POST /auth/otp = %d %s", r.Status, r.Body)
	}
	code := s.sms.LoginCode(phone)
	r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": code})
	if r.Status != http.StatusOK {
		t.Fatalf("POST /auth/token = %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

func bearer(tokens map[string]any) string {
	return "Authorization: Bearer " + tokens["access_token"].(string)
}

func TestRegisterAndRead(t *testing.T) {
	t.Parallel()
	api := start(t)

	// The blueprint's curl example, verbatim.
	r := api.Do("POST", "/users/", []byte(`{"name":"Budi","phone":"+628123456789","email":"budi@example.com"}`))
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /users/ = %d %s", r.Status, r.Body)
	}
	created := r.JSON(t)
	id := int64(created["id"].(float64))
	if loc := r.Header.Get("Location"); loc != fmt.Sprintf("/users/%d", id) {
		t.Errorf("Location = %q, want /users/%d", loc, id)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	for k, want := range map[string]any{"name": "Budi", "phone": "+628123456789", "email": "budi@example.com",
		"dob": nil, "gender": nil, "national_id": nil, "phone_verified": false} {
		if created[k] != want {
			t.Errorf("%s = %v, want %v", k, created[k], want)
		}
	}
	if roles := fmt.Sprint(created["roles"]); roles != "[customer]" {
		t.Errorf("roles = %s, want [customer]", roles)
	}

	tokens := api.login(t, "+628123456789")
	got := api.Do("GET", fmt.Sprintf("/users/%d", id), nil, bearer(tokens))
	if got.Status != http.StatusOK || got.JSON(t)["email"] != "budi@example.com" || got.JSON(t)["phone_verified"] != true {
		t.Errorf("GET /users/%d = %d %s, want the user with a verified phone", id, got.Status, got.Body)
	}
}

func TestRegisterNormalisesAndMasks(t *testing.T) {
	t.Parallel()
	api := start(t)
	r := api.JSON("POST", "/users/", map[string]any{
		"name": " Siti ", "phone": "08111222333", "email": "SITI@Example.com",
		"dob": "1990-05-12", "gender": "female", "national_id": "3201525205900001",
		// fields a client must not set are ignored
		"id": 999, "roles": []string{"admin"}, "phone_verified": true, "created_at": "2000-01-01T00:00:00Z",
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /users/ = %d %s", r.Status, r.Body)
	}
	u := r.JSON(t)
	for k, want := range map[string]any{"name": "Siti", "phone": "+628111222333", "email": "siti@example.com",
		"dob": "1990-05-12", "gender": "female", "national_id": "3201**********01", "phone_verified": false} {
		if u[k] != want {
			t.Errorf("%s = %v, want %v", k, u[k], want)
		}
	}
	if u["id"] == float64(999) || fmt.Sprint(u["roles"]) != "[customer]" {
		t.Errorf("mass assignment took effect: id=%v roles=%v", u["id"], u["roles"])
	}
	if strings.HasPrefix(fmt.Sprint(u["created_at"]), "2000") {
		t.Errorf("created_at taken from the body: %v", u["created_at"])
	}
}

func TestRegisterConflicts(t *testing.T) {
	t.Parallel()
	api := start(t)
	first := map[string]any{"name": "A", "phone": "+628120000001", "email": "a@example.com", "national_id": "3201521205900001"}
	if r := api.JSON("POST", "/users/", first); r.Status != http.StatusCreated {
		t.Fatalf("first registration = %d %s", r.Status, r.Body)
	}
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"same phone in local form", map[string]any{"name": "B", "phone": "08120000001", "email": "b@example.com"}, "phone"},
		{"same email in another case", map[string]any{"name": "B", "phone": "+628120000002", "email": "A@EXAMPLE.COM"}, "email"},
		{"same NIK", map[string]any{"name": "B", "phone": "+628120000003", "email": "c@example.com", "national_id": "3201521205900001"}, "national_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api.JSON("POST", "/users/", tt.body)
			if r.Status != http.StatusConflict {
				t.Fatalf("status = %d %s, want 409", r.Status, r.Body)
			}
			if !strings.Contains(string(r.Body), `"field":"`+tt.field+`"`) {
				t.Errorf("409 does not name %s: %s", tt.field, r.Body)
			}
		})
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	api := start(t)
	tests := []struct {
		name    string
		body    string
		headers []string
		status  int
	}{
		{"not JSON", `name=Budi`, nil, http.StatusBadRequest},
		{"empty body", ``, nil, http.StatusBadRequest},
		{"array instead of object", `[]`, nil, http.StatusBadRequest},
		{"number for name", `{"name":5,"phone":"+628123456789","email":"b@example.com"}`, nil, http.StatusBadRequest},
		{"trailing garbage", `{"name":"Budi","phone":"+628123456789","email":"b@example.com"} x`, nil, http.StatusBadRequest},
		{"wrong content type", `{"name":"Budi","phone":"+628123456789","email":"b@example.com"}`, []string{"Content-Type: text/plain"}, http.StatusUnsupportedMediaType},
		{"bad fields", `{"name":"","phone":"12","email":"nope"}`, nil, http.StatusUnprocessableEntity},
		{"over 64 KiB", `{"name":"` + strings.Repeat("a", 70*1024) + `"}`, nil, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api.Do("POST", "/users/", []byte(tt.body), tt.headers...)
			if r.Status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
		})
	}
	// Nothing was created: the first user registered now gets id 1.
	r := api.JSON("POST", "/users/", map[string]any{"name": "Budi", "phone": uniquePhone(), "email": "first@example.com"})
	if r.Status != http.StatusCreated {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if id := r.JSON(t)["id"]; id != float64(1) {
		t.Errorf("first stored user has id %v, want 1: a bad request wrote a row", id)
	}

	v := api.Do("POST", "/users/", []byte(`{"name":"","phone":"12","email":"nope"}`)).JSON(t)
	if n := len(v["errors"].([]any)); n != 3 || v["detail"] != "3 fields are invalid" || v["instance"] != "/users/" {
		t.Errorf("validation problem = %v, want 3 field errors", v)
	}
}

func TestUnknownPathsAndIDs(t *testing.T) {
	t.Parallel()
	api := start(t)
	phone := uniquePhone()
	api.register(t, phone, "u@example.com")
	auth := bearer(api.login(t, phone))
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/users/424242", http.StatusNotFound},
		{"GET", "/users/abc", http.StatusNotFound},
		{"GET", "/users/0", http.StatusNotFound},
		{"GET", "/users/99999999999999999999", http.StatusNotFound},
		{"DELETE", "/users/", http.StatusMethodNotAllowed},
		{"GET", "/nothing-here", http.StatusNotFound},
	} {
		if r := api.Do(tc.method, tc.path, nil, auth); r.Status != tc.status {
			t.Errorf("%s %s = %d, want %d: %s", tc.method, tc.path, r.Status, tc.status, r.Body)
		}
	}
}

func TestDocsAndOpenAPI(t *testing.T) {
	t.Parallel()
	api := start(t)
	spec := api.Do("GET", "/users/openapi.json", nil)
	if spec.Status != http.StatusOK || spec.JSON(t)["openapi"] != "3.0.3" {
		t.Errorf("openapi.json = %d %.200s", spec.Status, spec.Body)
	}
	docs := api.Do("GET", "/users/docs", nil)
	if docs.Status != http.StatusOK || !strings.Contains(string(docs.Body), "/users/openapi.json") ||
		strings.Count(string(docs.Body), `integrity="sha384-`) != 2 {
		t.Errorf("docs = %d %.200s: want the page with both assets pinned by integrity", docs.Status, docs.Body)
	}
	if csp := docs.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "'sha256-") {
		t.Errorf("docs CSP = %q", csp)
	}
}
