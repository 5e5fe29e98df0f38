package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"amancair.dev/pkg/testenv"
)

type auditPage struct {
	Items []struct {
		Type          string   `json:"type"`
		Service       string   `json:"service"`
		SubjectUserID *int64   `json:"subject_user_id"`
		ActorID       *int64   `json:"actor_id"`
		ActorRoles    []string `json:"actor_roles"`
		TraceID       string   `json:"trace_id"`
		ClientIP      string   `json:"client_ip"`
		Fields        []string `json:"fields"`
	} `json:"items"`
}

// trailOf waits until the trail about userID holds every type in want, and
// returns it.
func trailOf(t *testing.T, api *testenv.Client, token string, userID int64, want ...string) auditPage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var p auditPage
	for time.Now().Before(deadline) {
		r := api.Do("GET", fmt.Sprintf("/audit/events?subject_user_id=%d&limit=200", userID), nil, token)
		if r.Status != http.StatusOK {
			t.Fatalf("GET /audit/events = %d %s", r.Status, r.Body)
		}
		mustJSON(t, r.Body, &p)
		have := map[string]bool{}
		for _, e := range p.Items {
			have[e.Type] = true
		}
		missing := false
		for _, w := range want {
			missing = missing || !have[w]
		}
		if !missing {
			return p
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the trail of user %d lacks some of %v: %+v", userID, want, p.Items)
	return p
}

// The blueprint's calls leave the expected audit entries, with the trace the
// gateway started, readable by an auditor and refused to a customer; and none
// holds personal data.
func testBlueprintCallsAreAudited(t *testing.T) {
	t.Parallel()
	sms := testenv.Subscribe(t, stack.NATSURL, smsSubject)
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	p := newPerson(t, api, sms, "Eka")

	added := api.JSON("POST", fmt.Sprintf("/emergency/%d", p.id), map[string]any{"contact_name": "Fajar Nugroho", "contact_phone": "+628777000111"}, p.auth)
	remember("Fajar Nugroho", "+628777000111")
	if added.Status != http.StatusCreated {
		t.Fatalf("add contact = %d %s", added.Status, added.Body)
	}
	traceID := strings.Split(added.Header.Get("Traceparent"), "-")[1]

	token := bearer(login(t, api, sms, grant(t, api, sms, "auditor")))
	trail := trailOf(t, api, token, p.id, "user.created", "auth.otp_requested", "auth.login_succeeded", "device.registered", "contact.added")
	found := false
	for _, e := range trail.Items {
		if e.Type == "contact.added" && e.TraceID == traceID {
			found = true
			if e.ActorID == nil || *e.ActorID != p.id || e.ClientIP == "" || e.Service != "contacts" {
				t.Errorf("contact.added entry = %+v, want actor %d, a client IP, service contacts", e, p.id)
			}
		}
	}
	if !found {
		t.Errorf("no contact.added entry carries the request's trace %s: %+v", traceID, trail.Items)
	}
	raw, _ := json.Marshal(trail)
	for _, secret := range []string{p.phone, p.email, p.contactN, "Fajar Nugroho", "+628777000111", p.name} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the audit trail holds personal data %q", secret)
		}
	}

	if r := api.Do("GET", "/audit/events", nil, p.auth); r.Status != http.StatusForbidden {
		t.Errorf("customer reading the trail = %d, want 403", r.Status)
	}
	if r := api.Do("GET", "/audit/verify", nil, token); r.Status != http.StatusOK || r.JSON(t)["ok"] != true {
		t.Errorf("verify = %d %s", r.Status, r.Body)
	}

	// A staff read of the person's data is audited as such.
	ops := bearer(login(t, api, sms, grant(t, api, sms, "ops")))
	if r := api.Do("GET", fmt.Sprintf("/users/%d", p.id), nil, ops); r.Status != http.StatusOK {
		t.Fatalf("ops read = %d", r.Status)
	}
	trailOf(t, api, token, p.id, "user.viewed")
}

// grant registers a user with role and returns its phone.
func grant(t *testing.T, api *testenv.Client, sms *testenv.Inbox, role string) string {
	t.Helper()
	phoneSeq++
	phone := fmt.Sprintf("+62816%04d%04d", time.Now().Unix()%10000, phoneSeq)
	if r := api.JSON("POST", "/users/", map[string]any{"name": "Staff", "phone": phone, "email": role + testenv.RandomID(3) + "@example.com"}); r.Status != http.StatusCreated {
		t.Fatalf("register = %d %s", r.Status, r.Body)
	}
	if err := stack.Command(t.Context(), "identity", "grant-role", "--phone", phone, "--role", role); err != nil {
		t.Fatal(err)
	}
	return phone
}
