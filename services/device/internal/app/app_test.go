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
	"amancair.dev/services/device/internal/app"
	"amancair.dev/services/device/internal/httpapi"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// stack is a device service of the test's own, trusting a test token issuer.
type stack struct {
	*testenv.Client
	tokens *testenv.TokenIssuer
	env    map[string]string
	svc    *testenv.Service
	db     *testenv.DB
}

func start(t *testing.T) *stack {
	t.Helper()
	issuer := testenv.NewTokenIssuer(t)
	db := testenv.Database(t)
	env := issuer.Env(db.ServiceEnv("device"))
	svc := testenv.StartService(t, app.Run, env)
	return &stack{Client: testenv.NewClient(t, svc.URL, httpapi.OpenAPI), tokens: issuer, env: env, svc: svc, db: db}
}

// announce publishes identity's event for userID and waits until the service's
// projection has it (staff may then list the user's devices).
func (s *stack) announce(t *testing.T, userID int64, typ string, wantStatus int) {
	t.Helper()
	testenv.AnnounceUser(t, s.env, userID, typ)
	ops := s.tokens.Bearer(999, "ops")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.Do("GET", fmt.Sprintf("/devices/?user_id=%d", userID), nil, ops).Status == wantStatus {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the projection did not apply %s for user %d\n%s", typ, userID, s.svc.Logs.String())
}

func TestRegisterDevice(t *testing.T) {
	t.Parallel()
	api := start(t)
	body := map[string]any{"user_id": 1, "imei": "356938035643809", "android_id": "9774d56d682e549c",
		"advertising_id": "38400000-8cf0-11bd-b23e-10b96e40000d", "sim_serial": "8962010012345678901",
		"device_model": "Samsung SM-A155F", "os_version": "Android 14"}

	user1 := api.tokens.Bearer(1)
	first := api.JSON("POST", "/devices/", body, user1)
	if first.Status != http.StatusCreated {
		t.Fatalf("POST /devices/ = %d %s\n%s", first.Status, first.Body, api.svc.Logs.String())
	}
	d := first.JSON(t)
	for k, want := range map[string]any{"imei": "35**********809", "android_id": "97***********49c",
		"sim_serial": "89**************901", "device_model": "Samsung SM-A155F", "user_id": float64(1)} {
		if d[k] != want {
			t.Errorf("%s = %v, want %v", k, d[k], want)
		}
	}
	for _, raw := range []string{"356938035643809", "9774d56d682e549c", "8962010012345678901", "38400000-8cf0-11bd-b23e-10b96e40000d"} {
		if strings.Contains(string(first.Body), raw) {
			t.Errorf("response shows an identifier unmasked: %s", raw)
		}
	}

	again := api.JSON("POST", "/devices/", body, user1)
	if again.Status != http.StatusOK || again.JSON(t)["id"] != d["id"] {
		t.Errorf("registering again = %d %s, want 200 with id %v", again.Status, again.Body, d["id"])
	}

	user2 := api.tokens.Bearer(2)
	stolen := api.JSON("POST", "/devices/", map[string]any{"user_id": 2, "imei": "356938035643809"}, user2)
	if stolen.Status != http.StatusConflict || !strings.Contains(string(stolen.Body), `"field":"imei"`) {
		t.Errorf("IMEI of another user = %d %s, want 409 naming imei", stolen.Status, stolen.Body)
	}

	modern := api.JSON("POST", "/devices/", map[string]any{"android_id": "9774d56d682e549c"}, user2)
	if modern.Status != http.StatusCreated || modern.JSON(t)["imei"] != nil {
		t.Errorf("android_id-only device of another user = %d %s, want 201", modern.Status, modern.Body)
	}
}

// Twenty concurrent registrations of one phone agree on one device.
func TestRegisterDeviceConcurrently(t *testing.T) {
	t.Parallel()
	api := start(t)
	ids := make(chan any, 20)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r := api.JSON("POST", "/devices/", map[string]any{"user_id": 5, "android_id": "0123456789abcdef"}, api.tokens.Bearer(5))
			if r.Status != http.StatusCreated && r.Status != http.StatusOK {
				t.Errorf("status %d %s", r.Status, r.Body)
				return
			}
			ids <- r.JSON(t)["id"]
		})
	}
	wg.Wait()
	close(ids)
	seen := map[any]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Errorf("concurrent registrations made %d devices, want 1", len(seen))
	}
}

func TestRegisterDeviceRejects(t *testing.T) {
	t.Parallel()
	api := start(t)
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"no identifier", `{"user_id":1,"device_model":"X"}`, http.StatusUnprocessableEntity},
		{"bad imei", `{"user_id":1,"imei":"356938035643808"}`, http.StatusUnprocessableEntity},
		{"user_id as string", `{"user_id":"1","android_id":"9774d56d682e549c"}`, http.StatusBadRequest},
		{"user_id fractional", `{"user_id":1.5,"android_id":"9774d56d682e549c"}`, http.StatusBadRequest},
		{"not json", `imei=1`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := api.Do("POST", "/devices/", []byte(tt.body), api.tokens.Bearer(1)); r.Status != tt.status {
				t.Errorf("status = %d %s, want %d", r.Status, r.Body, tt.status)
			}
		})
	}
	if r := api.JSON("POST", "/devices/", map[string]any{"user_id": 1, "imei": "356938035643809"}, api.tokens.Bearer(1)); r.JSON(t)["id"] != float64(1) {
		t.Errorf("first stored device has id %v, want 1: a rejected request wrote a row", r.JSON(t)["id"])
	}
}

func TestDeviceAuthorization(t *testing.T) {
	t.Parallel()
	api := start(t)
	alice, bob := api.tokens.Bearer(11), api.tokens.Bearer(12)
	if r := api.JSON("POST", "/devices/", map[string]any{"android_id": "aaaaaaaaaaaaaaaa"}, bob); r.Status != http.StatusCreated {
		t.Fatalf("bob registers = %d %s", r.Status, r.Body)
	}
	if r := api.JSON("POST", "/devices/", map[string]any{"android_id": "aaaaaaaaaaaaaaaa"}); r.Status != http.StatusUnauthorized {
		t.Errorf("no token = %d, want 401", r.Status)
	}
	if r := api.JSON("POST", "/devices/", map[string]any{"user_id": 12, "android_id": "bbbbbbbbbbbbbbbb"}, alice); r.Status != http.StatusForbidden {
		t.Errorf("alice registering for bob = %d, want 403", r.Status)
	}
	if r := api.Do("GET", "/devices/?user_id=12", nil, alice); r.Status != http.StatusForbidden || strings.Contains(string(r.Body), "aa*") {
		t.Errorf("alice listing bob's devices = %d %s, want 403", r.Status, r.Body)
	}
	var mine []map[string]any
	if r := api.Do("GET", "/devices/", nil, bob); r.Status != http.StatusOK || json.Unmarshal(r.Body, &mine) != nil || len(mine) != 1 {
		t.Errorf("bob listing his own = %d %s", r.Status, r.Body)
	}
	if r := api.Do("GET", "/devices/?user_id=12", nil, api.tokens.Bearer(99, "ops")); r.Status != http.StatusNotFound {
		t.Errorf("ops listing a user identity never announced = %d, want 404", r.Status)
	}
	api.announce(t, 12, "user.created", http.StatusOK)
	for _, role := range []string{"ops", "admin"} {
		staff := api.tokens.Bearer(99, role)
		if r := api.Do("GET", "/devices/?user_id=12", nil, staff); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"user_id":12`) {
			t.Errorf("%s listing bob's devices = %d %s", role, r.Status, r.Body)
		}
	}
	if r := api.Do("GET", "/devices/?user_id=12", nil, api.tokens.Bearer(98, "auditor")); r.Status != http.StatusForbidden {
		t.Errorf("auditor listing bob's devices = %d, want 403", r.Status)
	}
	if r := api.JSON("POST", "/devices/", map[string]any{"user_id": 13, "android_id": "cccccccccccccccc"}, api.tokens.Bearer(99, "ops")); r.Status != http.StatusNotFound {
		t.Errorf("ops registering for an unknown user = %d %s, want 404", r.Status, r.Body)
	}
	api.announce(t, 13, "user.created", http.StatusOK)
	if r := api.JSON("POST", "/devices/", map[string]any{"user_id": 13, "android_id": "cccccccccccccccc"}, api.tokens.Bearer(99, "ops")); r.Status != http.StatusCreated {
		t.Errorf("ops registering for a known user = %d %s", r.Status, r.Body)
	}

	// Erasure: identity's user.erased makes the service delete the user's devices.
	api.announce(t, 12, "user.erased", http.StatusNotFound)
	conn, err := pgx.Connect(t.Context(), api.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var left int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM device.devices WHERE user_id = 12)
		+ (SELECT count(*) FROM device.data_keys WHERE user_id = 12)`).Scan(&left); err != nil || left != 0 {
		t.Errorf("bob's devices and data key after erasure: %d rows left (%v)", left, err)
	}
	if r := api.Do("GET", "/devices/", nil, bob); r.Status != http.StatusNotFound {
		t.Errorf("the erased bob listing his devices = %d, want 404", r.Status)
	}
	// Bob's token outlives the erasure by up to 15 minutes; it must not bring
	// personal data back.
	if r := api.JSON("POST", "/devices/", map[string]any{"android_id": "dddddddddddddddd"}, bob); r.Status != http.StatusNotFound {
		t.Errorf("an erased user registering a device = %d %s, want 404", r.Status, r.Body)
	}
}
