package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"amancair.dev/pkg/testenv"
)

// plaintexts are the personal values the suite sent; none may be found at rest
// or in a log line.
var plaintexts struct {
	sync.Mutex
	values []string
}

func remember(values ...string) {
	plaintexts.Lock()
	defer plaintexts.Unlock()
	plaintexts.values = append(plaintexts.values, values...)
}

func letters(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rand.IntN(26))
	}
	return string(b)
}

// The owner's export holds everything, decrypted, from every service; erasure
// then makes the person unreadable everywhere while the audit trail keeps the fact.
func testExportAndErasure(t *testing.T) {
	t.Parallel()
	sms := testenv.Subscribe(t, stack.NATSURL, smsSubject)
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	p := newPerson(t, api, sms, "Gita")
	nik := "3201525205900001"
	if r := api.JSON("PATCH", fmt.Sprintf("/users/%d", p.id), map[string]any{"national_id": nik, "gender": "female"}, p.auth); r.Status != http.StatusOK {
		// Another test may hold this NIK; any valid one will do.
		nik = fmt.Sprintf("32015252059%05d", 1+rand.IntN(99998))
		if r := api.JSON("PATCH", fmt.Sprintf("/users/%d", p.id), map[string]any{"national_id": nik, "gender": "female"}, p.auth); r.Status != http.StatusOK {
			t.Fatalf("PATCH = %d %s", r.Status, r.Body)
		}
	}
	remember(nik)

	r := api.Do("GET", fmt.Sprintf("/users/%d/export", p.id), nil, p.auth)
	if r.Status != http.StatusOK {
		t.Fatalf("export = %d %s", r.Status, r.Body)
	}
	for _, want := range []string{nik, p.phone, p.email, p.name, p.android, p.contactN, p.contactP} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("export lacks %q", want)
		}
	}
	if r := api.Do("GET", fmt.Sprintf("/internal/export/%d", p.id), nil, p.auth); r.Status != http.StatusNotFound {
		t.Errorf("/internal/export through the gateway = %d, want 404", r.Status)
	}

	if r := api.Do("DELETE", fmt.Sprintf("/users/%d", p.id), nil, p.auth); r.Status != http.StatusNoContent {
		t.Fatalf("erase = %d %s", r.Status, r.Body)
	}
	// Device and contacts learn of it from the event and destroy their keys and rows.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var keys, rows int
		if err := conn.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM identity.data_keys WHERE user_id = $1) + (SELECT count(*) FROM device.data_keys WHERE user_id = $1) +
			(SELECT count(*) FROM contacts.data_keys WHERE user_id = $1),
			(SELECT count(*) FROM device.devices WHERE user_id = $1) + (SELECT count(*) FROM contacts.emergency_contacts WHERE user_id = $1)`,
			p.id).Scan(&keys, &rows); err != nil {
			t.Fatal(err)
		}
		if keys == 0 && rows == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after erasure %d data keys and %d rows of the user remain", keys, rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := api.Do("GET", "/users/me", nil, p.auth); r.Status != http.StatusUnauthorized {
		t.Errorf("the erased user's token = %d, want 401", r.Status)
	}
	auditor := bearer(login(t, api, sms, grant(t, api, sms, "auditor")))
	trailOf(t, api, auditor, p.id, "user.erased", "user.exported")
}

// No personal value the suite used appears in plain text in a dump of the whole
// database or in any line any process logged.
func testNoPlaintextAtRestOrInLogs(t *testing.T) {
	dump, err := pgDump(stack.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(dump, []byte("CREATE TABLE identity.users")) {
		t.Fatalf("the dump does not look like this database's (%d bytes)", len(dump))
	}
	logs := []byte(logs.String())
	plaintexts.Lock()
	values := append([]string(nil), plaintexts.values...)
	plaintexts.Unlock()
	sort.Strings(values)
	if len(values) < 20 {
		t.Fatalf("only %d values were remembered; the suite did not run", len(values))
	}
	for _, v := range values {
		for name, haystack := range map[string][]byte{"database dump": dump, "logs": logs} {
			if bytes.Contains(haystack, []byte(v)) {
				t.Errorf("%q appears in plain text in the %s", v, name)
			}
		}
	}
	t.Logf("searched a %d-byte dump and %d bytes of logs for %d personal values", len(dump), len(logs), len(values))
}

// pgDump dumps the database at url with the newest pg_dump installed.
func pgDump(url string) ([]byte, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	bin := "pg_dump"
	if len(bins) > 0 {
		sort.Strings(bins)
		bin = bins[len(bins)-1]
	}
	out, err := exec.Command(bin, "--no-owner", "--dbname", url).Output()
	if err != nil {
		return nil, fmt.Errorf("pg_dump: %w", err)
	}
	return out, nil
}
