// Package e2e drives the whole system through the gateway, as the mobile app does:
// the services are the real binaries, on real PostgreSQL, NATS and Vault.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"amancair.dev/devstack"
	"amancair.dev/pkg/testenv"
)

var stack *devstack.Stack

// smsSubject is this run's own subject for login codes, so concurrent runs on the
// same NATS never read each other's codes.
var smsSubject = "test." + testenv.RandomID(6) + ".notifications.sms"

// logs keeps every process's output for the test to search and to show on failure.
var logs testenv.SyncBuffer

func TestMain(m *testing.M) {
	os.Exit(devstack.TestMain(m, devstack.Options{NATSURL: os.Getenv("TEST_NATS_URL"), ServiceEnv: []string{"SMS_SUBJECT=" + smsSubject}}, &logs, func(s *devstack.Stack) { stack = s }))
}

// blueprintCurls are the blueprint's three examples, verbatim but for the address
// and, on the contact calls, the bearer token the contract now asks for.
var blueprintCurls = []string{
	`curl -X POST "http://localhost:8000/users/" \
  -H "Content-Type: application/json" \
  -d '{"name":"Budi","phone":"+628123456789","email":"budi@example.com"}'`,
	`curl -X POST "http://localhost:8000/emergency/1" \
  -H "Content-Type: application/json" \
  -d '{"contact_name":"Siti","contact_phone":"+628111222333","relation":"spouse","is_primary":true}'`,
	`curl -X GET "http://localhost:8000/emergency/1"`,
}

func curl(t *testing.T, command string, headers ...string) (int, []byte) {
	t.Helper()
	command = strings.ReplaceAll(command, "http://localhost:8000", stack.GatewayURL)
	for _, h := range headers {
		command += ` -H '` + h + `'`
	}
	out, err := exec.Command("bash", "-c", command+` -sS -w '\n%{http_code}'`).Output()
	if err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	i := bytes.LastIndexByte(out, '\n')
	var status int
	fmt.Sscan(string(out[i+1:]), &status)
	return status, out[:i]
}

// login runs the OTP flow through the gateway: request a code, read it from the
// SMS subject, exchange it.
func login(t *testing.T, api *testenv.Client, sms *testenv.Inbox, phone string) map[string]any {
	t.Helper()
	if r := api.JSON("POST", "/auth/otp", map[string]any{"phone": phone}); r.Status != http.StatusAccepted {
		t.Fatalf("POST /auth/otp = %d %s", r.Status, r.Body)
	}
	r := api.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": sms.LoginCode(phone)})
	if r.Status != http.StatusOK {
		t.Fatalf("POST /auth/token = %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

func bearer(tokens map[string]any) string {
	return "Authorization: Bearer " + tokens["access_token"].(string)
}

// TestSystem runs the end-to-end suite in three steps: the blueprint's flow on the
// fresh stack (so Budi is user 1), then everything else in parallel, then — once
// every test has written its personal data — the search of the whole database
// dump and every log line for any of it in plain text.
func TestSystem(t *testing.T) {
	t.Run("BlueprintFlow", testBlueprintFlow)
	t.Run("API", func(t *testing.T) {
		for name, test := range map[string]func(*testing.T){
			"GatewayExposesOnlyTheAPI":   testGatewayExposesOnlyTheAPI,
			"GatewayRequestIDAndTrace":   testGatewayRequestIDAndTrace,
			"DocsThroughGateway":         testDocsThroughGateway,
			"NoPathToAnotherPersonsData": testNoPathToAnotherPersonsData,
			"ForgedTokensAreRefused":     testForgedTokensAreRefused,
			"SigningKeyRotation":         testSigningKeyRotation,
			"BlueprintCallsAreAudited":   testBlueprintCallsAreAudited,
			"ExportAndErasure":           testExportAndErasure,
		} {
			t.Run(name, test)
		}
	})
	t.Run("NoPlaintextAtRestOrInLogs", testNoPlaintextAtRestOrInLogs)
}

// The blueprint's flow on a fresh stack: register, log in with the code from the
// SMS subject, then the blueprint's calls with the bearer token.
func testBlueprintFlow(t *testing.T) {
	sms := testenv.Subscribe(t, stack.NATSURL, smsSubject)
	api := testenv.NewClient(t, stack.GatewayURL, nil)

	remember("Budi", "+628123456789", "8123456789", "budi@example.com", "Siti", "+628111222333", "356938035643809", "9774d56d682e549c")
	status, body := curl(t, blueprintCurls[0])
	if status != http.StatusCreated {
		t.Fatalf("register = %d %s", status, body)
	}
	var user map[string]any
	mustJSON(t, body, &user)
	if user["id"] != float64(1) || user["phone"] != "+628123456789" || user["name"] != "Budi" {
		t.Errorf("registered user = %s", body)
	}

	if status, _ := curl(t, blueprintCurls[2]); status != http.StatusUnauthorized {
		t.Errorf("contacts without a token = %d, want 401", status)
	}
	tokens := login(t, api, sms, "+628123456789")
	auth := bearer(tokens)

	status, body = curl(t, blueprintCurls[1], auth)
	if status != http.StatusCreated {
		t.Fatalf("add contact = %d %s", status, body)
	}
	var contact map[string]any
	mustJSON(t, body, &contact)
	if contact["user_id"] != float64(1) || contact["contact_name"] != "Siti" || contact["is_primary"] != true {
		t.Errorf("added contact = %s", body)
	}

	status, body = curl(t, blueprintCurls[2], auth)
	var list []map[string]any
	mustJSON(t, body, &list)
	if status != http.StatusOK || len(list) != 1 || list[0]["id"] != contact["id"] || list[0]["relation"] != "spouse" {
		t.Errorf("list contacts = %d %s", status, body)
	}

	if r := api.Do("GET", "/users/1", nil, auth); r.Status != http.StatusOK || r.JSON(t)["phone_verified"] != true {
		t.Errorf("GET /users/1 = %d %s", r.Status, r.Body)
	}
	r := api.JSON("POST", "/devices/", map[string]any{"imei": "356938035643809", "android_id": "9774d56d682e549c",
		"device_model": "Samsung SM-A155F", "os_version": "Android 14"}, auth)
	if r.Status != http.StatusCreated || r.JSON(t)["imei"] != "35**********809" || r.JSON(t)["user_id"] != float64(1) {
		t.Errorf("POST /devices/ = %d %s", r.Status, r.Body)
	}
}

// The gateway exposes the API's prefixes and nothing else: no metrics, health,
// readiness or debug endpoints of the services, however the path is spelled.
func testGatewayExposesOnlyTheAPI(t *testing.T) {
	t.Parallel()
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	for _, path := range []string{
		"/metrics", "/healthz", "/readyz", "/debug/pprof/", "/",
		"/users/../metrics", "/users/%2e%2e/healthz", "/users/..%2fhealthz", "/emergency/../readyz",
		"/devices/../../metrics", "/identity/healthz", "/users/healthz", "/audit/metrics",
	} {
		r := api.Do("GET", path, nil)
		// 404, or 401 where the path lands on an API route that needs a token first.
		if r.Status != http.StatusNotFound && r.Status != http.StatusUnauthorized {
			t.Errorf("GET %s through the gateway = %d %.120s, want 404 (or 401)", path, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "go_goroutines") || strings.Contains(string(r.Body), `"checks"`) {
			t.Errorf("GET %s leaked an operations endpoint: %.200s", path, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("GET %s: Content-Type %q, want application/problem+json", path, ct)
		}
	}
	// The same paths do answer on the services' own ops ports, so the 404s above
	// are the gateway's doing.
	for _, svc := range devstack.Services {
		resp, err := http.Get(stack.OpsURLs[svc] + "/metrics")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s metrics on its ops port: %v %v", svc, err, resp)
			continue
		}
		resp.Body.Close()
	}
}

// Every request through the gateway gets its own request id, and a trace that the
// gateway started continues in the service.
func testGatewayRequestIDAndTrace(t *testing.T) {
	t.Parallel()
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	a := api.Do("GET", "/users/openapi.json", nil, "X-Request-Id: client-chosen", "Traceparent: 00-"+clientTrace+"-00f067aa0ba902b7-01")
	b := api.Do("GET", "/users/openapi.json", nil)
	ida, idb := a.Header.Get("X-Request-Id"), b.Header.Get("X-Request-Id")
	if ida == "" || ida == idb || ida == "client-chosen" {
		t.Errorf("request ids %q and %q: want two fresh ids set by the gateway", ida, idb)
	}
	tp := a.Header.Get("Traceparent")
	parts := strings.Split(tp, "-")
	if len(parts) != 4 {
		t.Fatalf("traceparent = %q", tp)
	}
	if parts[1] == clientTrace {
		t.Errorf("the gateway continued the client's trace %s; the audit trail must record the gateway's own", clientTrace)
	}
	// The gateway's trace id reached the service, which logged the request under it.
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"trace_id":"`+parts[1]+`"`) && strings.Contains(line, `"request_id":"`+ida+`"`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no service log line carries trace %s and request id %s", parts[1], ida)
	}
}

// Every service's OpenAPI document and docs page are reachable through the gateway.
func testDocsThroughGateway(t *testing.T) {
	t.Parallel()
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	for _, prefix := range []string{"/users", "/devices", "/emergency", "/audit"} {
		spec := api.Do("GET", prefix+"/openapi.json", nil)
		var doc map[string]any
		mustJSON(t, spec.Body, &doc)
		if spec.Status != http.StatusOK || doc["openapi"] == nil {
			t.Errorf("%s/openapi.json = %d", prefix, spec.Status)
		}
		if page := api.Do("GET", prefix+"/docs", nil); page.Status != http.StatusOK || !strings.Contains(string(page.Body), "swagger-ui") {
			t.Errorf("%s/docs = %d", prefix, page.Status)
		}
	}
}

func mustJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
}
