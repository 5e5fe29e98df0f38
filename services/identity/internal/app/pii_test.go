package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"amancair.dev/pkg/pii"
	"amancair.dev/pkg/testenv"
	"amancair.dev/pkg/transit"
	"amancair.dev/services/identity/internal/app"
)

func TestErasure(t *testing.T) {
	t.Parallel()
	s := start(t)
	phone, other := uniquePhone(), uniquePhone()
	id := s.register(t, phone, "erase@example.com")
	otherID := s.register(t, other, "keep@example.com")
	if r := s.JSON("PATCH", fmt.Sprintf("/users/%d", id), map[string]any{"national_id": "3201521205900001"}, bearer(s.login(t, phone))); r.Status != http.StatusOK {
		t.Fatalf("PATCH = %d %s", r.Status, r.Body)
	}
	tokens := s.login(t, phone)
	auth := bearer(tokens)

	if r := s.Do("DELETE", fmt.Sprintf("/users/%d", otherID), nil, auth); r.Status != http.StatusNotFound {
		t.Errorf("a customer erasing someone else = %d, want 404", r.Status)
	}
	if r := s.Do("DELETE", fmt.Sprintf("/users/%d", id), nil, auth); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", r.Status, r.Body)
	}

	// No way back in: not with the old tokens, not with a new code.
	if r := s.Do("GET", "/users/me", nil, auth); r.Status != http.StatusUnauthorized {
		t.Errorf("old access token after erasure = %d, want 401", r.Status)
	}
	if r := s.JSON("POST", "/auth/refresh", map[string]any{"refresh_token": tokens["refresh_token"]}); r.Status != http.StatusUnauthorized {
		t.Errorf("old refresh token after erasure = %d, want 401", r.Status)
	}
	if r := s.JSON("POST", "/auth/otp", map[string]any{"phone": phone}); r.Status != http.StatusAccepted {
		t.Errorf("code request after erasure = %d, want the same 202 as for any phone", r.Status)
	}
	if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": "000000"}); r.Status != http.StatusUnauthorized {
		t.Errorf("login after erasure = %d, want 401", r.Status)
	}
	// The phone and email are free again: the blind indexes are gone.
	if again := s.register(t, phone, "erase@example.com"); again == id {
		t.Error("re-registration reused the erased id")
	}

	// The raw row is still there, encrypted, but its key is gone: nobody can read it.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var name []byte
	var bidx []byte
	var erased bool
	if err := conn.QueryRow(ctx, `SELECT name_enc, national_id_bidx, erased_at IS NOT NULL FROM identity.users WHERE id = $1`, id).Scan(&name, &bidx, &erased); err != nil {
		t.Fatal(err)
	}
	if len(name) == 0 || bidx != nil || !erased {
		t.Errorf("erased row: name_enc %d bytes, national_id_bidx %x, erased %v", len(name), bidx, erased)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO identity`); err != nil {
		t.Fatal(err)
	}
	vc, _ := pii.NewVaultClient(s.vars["VAULT_ADDR"], s.vars["VAULT_TOKEN"])
	keys := pii.NewKeyring(transit.New(vc, s.vars["TRANSIT_MOUNT"]), "identity-pii", 10, 0)
	if _, err := keys.Cipher(ctx, tx, id); !errors.Is(err, pii.ErrNoKey) {
		t.Errorf("reading the erased user's data key: %v, want ErrNoKey", err)
	}
	if _, err := keys.Cipher(ctx, tx, otherID); err != nil {
		t.Errorf("another user's key is untouched: %v", err)
	}
	var tokensLeft int
	if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM refresh_tokens WHERE user_id = $1) + (SELECT count(*) FROM otp_codes WHERE user_id = $1)`, id).Scan(&tokensLeft); err != nil || tokensLeft != 0 {
		t.Errorf("codes and refresh tokens left after erasure: %d (%v)", tokensLeft, err)
	}

	// An admin may erase anyone.
	grant(t, s, other, "admin")
	if r := s.Do("DELETE", fmt.Sprintf("/users/%d", s.register(t, uniquePhone(), "victim@example.com")), nil, bearer(s.login(t, other))); r.Status != http.StatusNoContent {
		t.Errorf("admin erasure = %d %s", r.Status, r.Body)
	}
}

// With Vault unreachable, what needs a key not in the cache is refused with 503
// and writes nothing, what the cache holds is still served, readiness says so,
// and everything recovers by itself when Vault is back.
func TestVaultOutage(t *testing.T) {
	t.Parallel()
	servers := testenv.Shared(t)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(servers.VaultAddr, "http://"))
	s := startStack(t, "VAULT_ADDR", "http://"+proxy.Addr)

	cachedPhone, coldPhone := uniquePhone(), uniquePhone()
	cached := s.register(t, cachedPhone, "cached@example.com")
	cold := s.register(t, coldPhone, "cold@example.com")
	cachedAuth, coldAuth := bearer(s.login(t, cachedPhone)), bearer(s.login(t, coldPhone))
	if r := s.Do("GET", fmt.Sprintf("/users/%d", cached), nil, cachedAuth); r.Status != http.StatusOK {
		t.Fatalf("warm-up read = %d", r.Status)
	}
	users := func() int {
		var n int
		superuserRow(t, s, `SELECT count(*) FROM identity.users`, nil, &n)
		return n
	}
	before := users()

	proxy.Cut()
	r := s.JSON("POST", "/users/", map[string]any{"name": "Nope", "phone": uniquePhone(), "email": "nope@example.com"})
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("register with Vault down = %d %v %s, want 503 with Retry-After", r.Status, r.Header, r.Body)
	}
	if strings.Contains(string(r.Body), proxy.Addr) || strings.Contains(strings.ToLower(string(r.Body)), "vault") {
		t.Errorf("503 body names internals: %s", r.Body)
	}
	if n := users(); n != before {
		t.Errorf("a refused registration wrote %d rows", n-before)
	}
	if r := s.Do("GET", fmt.Sprintf("/users/%d", cached), nil, cachedAuth); r.Status != http.StatusOK {
		t.Errorf("read of a user whose key is cached = %d, want 200 without Vault", r.Status)
	}
	if r := s.Do("GET", fmt.Sprintf("/users/%d", cold), nil, coldAuth); r.Status != http.StatusServiceUnavailable {
		t.Errorf("read of a user whose key is not cached = %d, want 503", r.Status)
	}
	if resp, err := http.Get(s.svc.OpsURL + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz with Vault down = %v %v, want 503", resp, err)
	}

	proxy.Restore()
	if r := s.JSON("POST", "/users/", map[string]any{"name": "Back", "phone": uniquePhone(), "email": "back@example.com"}); r.Status != http.StatusCreated {
		t.Errorf("register after Vault is back = %d %s", r.Status, r.Body)
	}
	if r := s.Do("GET", fmt.Sprintf("/users/%d", cold), nil, coldAuth); r.Status != http.StatusOK {
		t.Errorf("cold read after Vault is back = %d", r.Status)
	}
	if resp, err := http.Get(s.svc.OpsURL + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("readyz after Vault is back = %v %v", resp, err)
	}
}

// The export gathers the user's own data, decrypted and unmasked, with what the
// other services hold; to anyone else it does not exist.
func TestExport(t *testing.T) {
	t.Parallel()
	device := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"devices":[{"id":1,"imei":"356938035643809"}]}`)
	}))
	defer device.Close()
	contacts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"emergency_contacts":[{"id":3,"contact_name":"Siti"}]}`)
	}))
	s := startStack(t, "DEVICE_URL", device.URL, "CONTACTS_URL", contacts.URL)

	phone := uniquePhone()
	id := s.register(t, phone, "export@example.com")
	auth := bearer(s.login(t, phone))
	s.JSON("PATCH", fmt.Sprintf("/users/%d", id), map[string]any{"national_id": "3201521205900001", "dob": "1990-05-12"}, auth)

	r := s.Do("GET", fmt.Sprintf("/users/%d/export", id), nil, auth)
	if r.Status != http.StatusOK {
		t.Fatalf("export = %d %s", r.Status, r.Body)
	}
	body := string(r.Body)
	for _, want := range []string{`"national_id":"3201521205900001"`, `"phone":"` + phone + `"`, `"imei":"356938035643809"`, `"contact_name":"Siti"`} {
		if !strings.Contains(body, want) {
			t.Errorf("export lacks %s: %s", want, body)
		}
	}
	other := uniquePhone()
	s.register(t, other, "nosy@example.com")
	if r := s.Do("GET", fmt.Sprintf("/users/%d/export", id), nil, bearer(s.login(t, other))); r.Status != http.StatusNotFound {
		t.Errorf("someone else's export = %d, want 404", r.Status)
	}
	contacts.Close()
	if r := s.Do("GET", fmt.Sprintf("/users/%d/export", id), nil, auth); r.Status != http.StatusServiceUnavailable {
		t.Errorf("export with a service down = %d, want 503", r.Status)
	}
}

// Rotating the data-key wrapping key and re-wrapping every stored key keeps all
// data readable and every look-up working; a second run has nothing left to do.
func TestKeyRotationAndRewrap(t *testing.T) {
	t.Parallel()
	s := start(t)
	phone := uniquePhone()
	id := s.register(t, phone, "rotate@example.com")
	for range 3 {
		s.register(t, uniquePhone(), testenv.RandomID(4)+"@example.com")
	}
	rotate(t, s, "identity-pii")

	var out strings.Builder
	if err := runIdentity(s, &out, "rewrap"); err != nil {
		t.Fatalf("rewrap: %v", err)
	}
	if !strings.Contains(out.String(), "rewrapped 4 data keys and 1 index keys") || !strings.Contains(out.String(), "version 2") {
		t.Errorf("rewrap said %q", out.String())
	}
	var stale int
	superuserRow(t, s, `SELECT (SELECT count(*) FROM identity.data_keys WHERE wrapped NOT LIKE 'vault:v2:%')
		+ (SELECT count(*) FROM identity.index_keys WHERE wrapped NOT LIKE 'vault:v2:%')`, nil, &stale)
	if stale != 0 {
		t.Errorf("%d keys still wrapped under version 1", stale)
	}
	out.Reset()
	if err := runIdentity(s, &out, "rewrap"); err != nil || !strings.Contains(out.String(), "rewrapped 0 data keys and 0 index keys") {
		t.Errorf("second rewrap = %v, %q; want nothing left to do", err, out.String())
	}

	// Everything still reads and looks up: login finds the phone by its blind
	// index, the user decrypts, and a duplicate phone is still caught.
	auth := bearer(s.login(t, phone))
	if r := s.Do("GET", fmt.Sprintf("/users/%d", id), nil, auth); r.Status != http.StatusOK || r.JSON(t)["phone"] != phone {
		t.Errorf("read after rewrap = %d %s", r.Status, r.Body)
	}
	if r := s.JSON("POST", "/users/", map[string]any{"name": "Dup", "phone": phone, "email": "dup@example.com"}); r.Status != http.StatusConflict {
		t.Errorf("duplicate phone after rotation = %d, want 409", r.Status)
	}
	if r := s.JSON("POST", "/users/", map[string]any{"name": "New", "phone": uniquePhone(), "email": "new@example.com"}); r.Status != http.StatusCreated {
		t.Errorf("registration after rotation = %d", r.Status)
	}
}

func runIdentity(s *stack, out *strings.Builder, args ...string) error {
	return app.Run(context.Background(), args, testenv.Getenv(s.vars), out)
}
