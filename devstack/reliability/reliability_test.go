// Package reliability checks that no event is lost or doubled when NATS or the
// audit service fails. It runs its own stack with a NATS server of its own, which
// the tests stop and start, so the tests run one after another.
package reliability

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"amancair.dev/devstack"
	"amancair.dev/pkg/testenv"
)

var (
	stack      *devstack.Stack
	logs       testenv.SyncBuffer
	smsSubject = "test." + testenv.RandomID(6) + ".notifications.sms"
)

func TestMain(m *testing.M) {
	os.Exit(devstack.TestMain(m, devstack.Options{PrivateNATS: true, ServiceEnv: []string{"SMS_SUBJECT=" + smsSubject}}, &logs, func(s *devstack.Stack) { stack = s }))
}

var seq = time.Now().UnixNano() % 100000

// register creates n users and returns their ids.
func register(t *testing.T, api *testenv.Client, n int) []int64 {
	t.Helper()
	ids := make([]int64, 0, n)
	for range n {
		seq++
		r := api.JSON("POST", "/users/", map[string]any{"name": "Rel", "phone": fmt.Sprintf("+62817%08d", seq), "email": fmt.Sprintf("rel%d@example.com", seq)})
		if r.Status != http.StatusCreated {
			t.Fatalf("register = %d %s", r.Status, r.Body)
		}
		ids = append(ids, int64(r.JSON(t)["id"].(float64)))
	}
	return ids
}

// auditorToken makes an auditor and logs it in (NATS must be up for the code).
func auditorToken(t *testing.T, api *testenv.Client) string {
	t.Helper()
	sms := testenv.Subscribe(t, stack.NATSURL, smsSubject)
	seq++
	phone := fmt.Sprintf("+62818%08d", seq)
	if r := api.JSON("POST", "/users/", map[string]any{"name": "Auditor", "phone": phone, "email": fmt.Sprintf("aud%d@example.com", seq)}); r.Status != http.StatusCreated {
		t.Fatalf("register = %d", r.Status)
	}
	if err := stack.Command(t.Context(), "identity", "grant-role", "--phone", phone, "--role", "auditor"); err != nil {
		t.Fatal(err)
	}
	api.JSON("POST", "/auth/otp", map[string]any{"phone": phone})
	r := api.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": sms.LoginCode(phone)})
	if r.Status != http.StatusOK {
		t.Fatalf("token = %d %s", r.Status, r.Body)
	}
	return "Authorization: Bearer " + r.JSON(t)["access_token"].(string)
}

// createdCounts waits until every id has its user.created entry in the trail and
// returns how many entries each has.
func createdCounts(t *testing.T, api *testenv.Client, token string, ids []int64) map[int64]int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts := map[int64]int{}
		cursor := ""
		for {
			r := api.Do("GET", "/audit/events?type=user.created&limit=200"+cursor, nil, token)
			var p struct {
				Items []struct {
					SubjectUserID int64 `json:"subject_user_id"`
				} `json:"items"`
				NextCursor *string `json:"next_cursor"`
			}
			if r.Status != http.StatusOK || json.Unmarshal(r.Body, &p) != nil {
				t.Fatalf("audit events = %d %s", r.Status, r.Body)
			}
			for _, e := range p.Items {
				counts[e.SubjectUserID]++
			}
			if p.NextCursor == nil {
				break
			}
			cursor = "&cursor=" + *p.NextCursor
		}
		missing := 0
		for _, id := range ids {
			if counts[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return counts
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never reached the audit trail", missing, len(ids))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func exactlyOnce(t *testing.T, counts map[int64]int, ids []int64) {
	t.Helper()
	for _, id := range ids {
		if counts[id] != 1 {
			t.Errorf("user %d has %d user.created entries, want exactly 1", id, counts[id])
		}
	}
}

func verify(t *testing.T, api *testenv.Client, token string) {
	t.Helper()
	r := api.Do("GET", "/audit/verify", nil, token)
	if r.Status != http.StatusOK || r.JSON(t)["ok"] != true {
		t.Errorf("verify = %d %s", r.Status, r.Body)
	}
}

var backlogLine = regexp.MustCompile(`(?m)^outbox_backlog\S*\s+(\d+)`)

// backlog reads identity's outbox backlog gauge from its metrics.
func backlog(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(stack.OpsURLs["identity"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := backlogLine.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no outbox_backlog gauge in identity's metrics")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// With NATS down, writes still succeed and their events wait in the outbox;
// once NATS is back, every event reaches the audit trail exactly once.
func TestNATSOutageLosesNothing(t *testing.T) {
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	token := auditorToken(t, api)
	before := register(t, api, 10)

	stack.NATS.Stop()
	during := register(t, api, 40)
	if n := backlog(t); n < 40 {
		t.Errorf("outbox backlog with NATS down = %d, want at least the 40 new events", n)
	}
	if err := stack.NATS.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	after := register(t, api, 10)

	all := append(append(before, during...), after...)
	exactlyOnce(t, createdCounts(t, api, token, all), all)
	deadline := time.Now().Add(30 * time.Second)
	for backlog(t) != 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := backlog(t); n != 0 {
		t.Errorf("outbox backlog after NATS came back = %d, want 0", n)
	}
	verify(t, api, token)
}

// Killing the audit service in the middle of a stream loses and doubles nothing,
// and the chain still verifies.
func TestAuditCrashLosesNothing(t *testing.T) {
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	token := auditorToken(t, api)

	done := make(chan []int64)
	go func() {
		var ids []int64
		for range 6 {
			ids = append(ids, register(t, api, 10)...)
			time.Sleep(50 * time.Millisecond)
		}
		done <- ids
	}()
	time.Sleep(300 * time.Millisecond)
	stack.Kill("audit")
	time.Sleep(500 * time.Millisecond)
	if err := stack.Restart(t.Context(), "audit"); err != nil {
		t.Fatal(err)
	}
	ids := <-done
	exactlyOnce(t, createdCounts(t, api, token, ids), ids)
	verify(t, api, token)
}
