package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"amancair.dev/pkg/testenv"
	"amancair.dev/services/identity/internal/app"
)

func TestLoginRefreshLogout(t *testing.T) {
	t.Parallel()
	s := start(t)
	phone := uniquePhone()
	id := s.register(t, phone, "login@example.com")

	tokens := s.login(t, phone)
	if tokens["token_type"] != "Bearer" || tokens["expires_in"] != float64(900) {
		t.Errorf("token response = %v", tokens)
	}
	me := s.Do("GET", "/users/me", nil, bearer(tokens))
	if me.Status != http.StatusOK || me.JSON(t)["id"] != float64(id) || me.JSON(t)["phone_verified"] != true {
		t.Fatalf("GET /users/me = %d %s", me.Status, me.Body)
	}

	// Refresh rotates: the new pair works, the old refresh token does not, and
	// presenting it again revokes the family, so the new one dies too.
	first := tokens["refresh_token"].(string)
	r := s.JSON("POST", "/auth/refresh", map[string]any{"refresh_token": first})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh = %d %s", r.Status, r.Body)
	}
	second := r.JSON(t)
	if second["refresh_token"] == first || second["access_token"] == tokens["access_token"] {
		t.Error("refresh returned the same tokens")
	}
	if r := s.JSON("POST", "/auth/refresh", map[string]any{"refresh_token": first}); r.Status != http.StatusUnauthorized {
		t.Errorf("reused refresh token = %d, want 401", r.Status)
	}
	if r := s.JSON("POST", "/auth/refresh", map[string]any{"refresh_token": second["refresh_token"]}); r.Status != http.StatusUnauthorized {
		t.Errorf("refresh token of a revoked family = %d, want 401", r.Status)
	}

	// Logout revokes the family of a fresh login.
	third := s.login(t, phone)
	if r := s.JSON("POST", "/auth/logout", map[string]any{"refresh_token": third["refresh_token"]}); r.Status != http.StatusNoContent {
		t.Errorf("logout = %d %s", r.Status, r.Body)
	}
	if r := s.JSON("POST", "/auth/refresh", map[string]any{"refresh_token": third["refresh_token"]}); r.Status != http.StatusUnauthorized {
		t.Errorf("refresh after logout = %d, want 401", r.Status)
	}
	if r := s.JSON("POST", "/auth/refresh", map[string]any{"refresh_token": "made-up"}); r.Status != http.StatusUnauthorized {
		t.Errorf("unknown refresh token = %d, want 401", r.Status)
	}
}

func TestOTPCodes(t *testing.T) {
	t.Parallel()
	s := start(t)

	t.Run("sixth try fails even with the right code", func(t *testing.T) {
		phone := uniquePhone()
		s.register(t, phone, "six@example.com")
		s.JSON("POST", "/auth/otp", map[string]any{"phone": phone})
		code := s.sms.LoginCode(phone)
		wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
		for i := range 5 {
			if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": wrong}); r.Status != http.StatusUnauthorized {
				t.Fatalf("wrong try %d = %d", i+1, r.Status)
			}
		}
		if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": code}); r.Status != http.StatusUnauthorized {
			t.Errorf("right code after 5 wrong tries = %d, want 401", r.Status)
		}
	})

	t.Run("a code works once", func(t *testing.T) {
		phone := uniquePhone()
		s.register(t, phone, "once@example.com")
		s.JSON("POST", "/auth/otp", map[string]any{"phone": phone})
		code := s.sms.LoginCode(phone)
		if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": code}); r.Status != http.StatusOK {
			t.Fatalf("first use = %d", r.Status)
		}
		if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": code}); r.Status != http.StatusUnauthorized {
			t.Errorf("second use = %d, want 401", r.Status)
		}
	})

	t.Run("an expired code fails", func(t *testing.T) {
		phone := uniquePhone()
		id := s.register(t, phone, "expired@example.com")
		s.JSON("POST", "/auth/otp", map[string]any{"phone": phone})
		code := s.sms.LoginCode(phone)
		superuser(t, s, `UPDATE identity.otp_codes SET expires_at = now() - interval '1 second' WHERE user_id = $1`, id)
		if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": code}); r.Status != http.StatusUnauthorized {
			t.Errorf("expired code = %d, want 401", r.Status)
		}
	})

	t.Run("twenty concurrent uses: exactly one wins", func(t *testing.T) {
		phone := uniquePhone()
		s.register(t, phone, "race@example.com")
		s.JSON("POST", "/auth/otp", map[string]any{"phone": phone})
		code := s.sms.LoginCode(phone)
		var wg sync.WaitGroup
		statuses := make(chan int, 20)
		for range 20 {
			wg.Go(func() {
				statuses <- s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": code}).Status
			})
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for st := range statuses {
			count[st]++
		}
		if count[http.StatusOK] != 1 || count[http.StatusUnauthorized] != 19 {
			t.Errorf("20 concurrent exchanges gave %v, want one 200 and nineteen 401", count)
		}
	})

	t.Run("no trace of the code in the database", func(t *testing.T) {
		phone := uniquePhone()
		id := s.register(t, phone, "stored@example.com")
		s.JSON("POST", "/auth/otp", map[string]any{"phone": phone})
		code := s.sms.LoginCode(phone)
		var stored string
		superuserRow(t, s, `SELECT code_hmac FROM identity.otp_codes WHERE user_id = $1`, []any{id}, &stored)
		if strings.Contains(stored, code) || !strings.HasPrefix(stored, "vault:v") {
			t.Errorf("stored code = %q, want only Vault's keyed hash", stored)
		}
	})
}

func TestOTPDoesNotRevealAccounts(t *testing.T) {
	t.Parallel()
	s := start(t)
	known := uniquePhone()
	s.register(t, known, "known@example.com")
	a := s.JSON("POST", "/auth/otp", map[string]any{"phone": known})
	b := s.JSON("POST", "/auth/otp", map[string]any{"phone": uniquePhone()})
	if a.Status != http.StatusAccepted || b.Status != http.StatusAccepted || string(a.Body) != string(b.Body) {
		t.Errorf("known phone = %d %s, unknown = %d %s: want identical 202s", a.Status, a.Body, b.Status, b.Body)
	}
	if r := s.JSON("POST", "/auth/token", map[string]any{"phone": uniquePhone(), "code": "123456"}); r.Status != http.StatusUnauthorized {
		t.Errorf("token for an unknown phone = %d, want 401", r.Status)
	}
}

func TestOTPRateLimits(t *testing.T) {
	t.Parallel()
	s := start(t)
	phone := uniquePhone()
	s.register(t, phone, "limit@example.com")
	for i := range 3 {
		if r := s.JSON("POST", "/auth/otp", map[string]any{"phone": phone}); r.Status != http.StatusAccepted {
			t.Fatalf("request %d = %d", i+1, r.Status)
		}
	}
	r := s.JSON("POST", "/auth/otp", map[string]any{"phone": "0" + strings.TrimPrefix(phone, "+62")})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("4th request in 10 minutes (same phone, local form) = %d %v, want 429 with Retry-After", r.Status, r.Header)
	}

	// Per client IP: many phones from one address run into the IP limit.
	limited := false
	for range 40 {
		if s.JSON("POST", "/auth/otp", map[string]any{"phone": uniquePhone()}).Status == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("40 code requests from one IP were all accepted")
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	s := start(t)
	phoneA, phoneB := uniquePhone(), uniquePhone()
	a := s.register(t, phoneA, "a@example.com")
	b := s.register(t, phoneB, "b@example.com")
	tokA := bearer(s.login(t, phoneA))

	if r := s.Do("GET", fmt.Sprintf("/users/%d", a), nil); r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("no token = %d %v, want 401 with WWW-Authenticate: Bearer", r.Status, r.Header)
	}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", fmt.Sprintf("/users/%d", b), nil},
		{"PATCH", fmt.Sprintf("/users/%d", b), map[string]any{"name": "Hacked"}},
	} {
		var r testenv.Response
		if tc.body != nil {
			r = s.JSON(tc.method, tc.path, tc.body, tokA)
		} else {
			r = s.Do(tc.method, tc.path, nil, tokA)
		}
		if (r.Status != http.StatusNotFound && r.Status != http.StatusForbidden) || strings.Contains(string(r.Body), "b@example.com") {
			t.Errorf("A: %s %s = %d %s, want 403/404 without B's data", tc.method, tc.path, r.Status, r.Body)
		}
	}

	// Mass assignment: fields the client must not set change nothing.
	r := s.JSON("PATCH", fmt.Sprintf("/users/%d", a), map[string]any{
		"name": "Alice", "roles": []string{"admin"}, "phone_verified": false, "id": 999, "phone": "+628111111111",
	}, tokA)
	u := r.JSON(t)
	if r.Status != http.StatusOK || u["name"] != "Alice" || fmt.Sprint(u["roles"]) != "[customer]" ||
		u["phone_verified"] != true || u["id"] != float64(a) || u["phone"] != phoneA {
		t.Errorf("PATCH with forbidden fields = %d %s", r.Status, r.Body)
	}

	// Staff: ops may read B, not change B; a grant through the command line takes
	// effect at the next login.
	grant(t, s, phoneA, "ops")
	ops := bearer(s.login(t, phoneA))
	if r := s.Do("GET", fmt.Sprintf("/users/%d", b), nil, ops); r.Status != http.StatusOK || r.JSON(t)["email"] != "b@example.com" {
		t.Errorf("ops reading B = %d %s", r.Status, r.Body)
	}
	if r := s.JSON("PATCH", fmt.Sprintf("/users/%d", b), map[string]any{"name": "X"}, ops); r.Status != http.StatusNotFound {
		t.Errorf("ops changing B = %d, want 404", r.Status)
	}
	grant(t, s, phoneA, "admin")
	adminTokens := s.login(t, phoneA)
	admin := bearer(adminTokens)
	if r := s.JSON("PATCH", fmt.Sprintf("/users/%d", b), map[string]any{"name": "Bee"}, admin); r.Status != http.StatusOK || r.JSON(t)["name"] != "Bee" {
		t.Errorf("admin changing B = %d %s", r.Status, r.Body)
	}

	// Revoking the role ends the sessions that carried it: the refresh token dies,
	// and the next login's token has only what is left.
	var out strings.Builder
	if err := app.Run(context.Background(), []string{"revoke-role", "--phone", phoneA, "--role", "admin"}, testenv.Getenv(s.vars), &out); err != nil {
		t.Fatalf("revoke-role: %v", err)
	}
	if r := s.JSON("POST", "/auth/refresh", map[string]any{"refresh_token": adminTokens["refresh_token"]}); r.Status != http.StatusUnauthorized {
		t.Errorf("refresh after the role was revoked = %d, want 401", r.Status)
	}
	var roles []string
	superuserRow(t, s, `SELECT roles FROM identity.users WHERE id = $1`, []any{a}, &roles)
	if fmt.Sprint(roles) != "[customer ops]" {
		t.Errorf("roles after revoking admin = %v, want [customer ops]", roles)
	}
	if err := app.Run(context.Background(), []string{"revoke-role", "--phone", phoneA, "--role", "customer"}, testenv.Getenv(s.vars), &out); err == nil {
		t.Error("revoke-role took the customer role")
	}

	// The token of a user that no longer exists opens nothing.
	superuser(t, s, `DELETE FROM identity.users WHERE id = $1`, a)
	if r := s.Do("GET", "/users/me", nil, tokA); r.Status != http.StatusUnauthorized {
		t.Errorf("token of a deleted user = %d, want 401", r.Status)
	}
}

func TestTokensAndKeyRotation(t *testing.T) {
	t.Parallel()
	s := start(t)
	phone := uniquePhone()
	s.register(t, phone, "rot@example.com")
	before := s.login(t, phone)

	jwks := s.Do("GET", "/.well-known/jwks.json", nil).JSON(t)
	keys := jwks["keys"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["kty"] != "OKP" || keys[0].(map[string]any)["alg"] != "EdDSA" {
		t.Fatalf("jwks = %v", jwks)
	}
	if h := header(t, before["access_token"].(string)); h["alg"] != "EdDSA" || h["kid"] != keys[0].(map[string]any)["kid"] {
		t.Errorf("token header %v does not match the JWKS", h)
	}

	// Tampered tokens are refused by the service itself.
	tok := before["access_token"].(string)
	parts := strings.Split(tok, ".")
	if r := s.Do("GET", "/users/me", nil, "Authorization: Bearer "+parts[0]+"."+parts[1]+"x."+parts[2]); r.Status != http.StatusUnauthorized {
		t.Errorf("tampered token = %d", r.Status)
	}

	rotate(t, s, "identity-jwt")
	time.Sleep(6 * time.Second) // the signing key's versions are cached for 5 s
	after := s.login(t, phone)
	if h := header(t, after["access_token"].(string)); h["kid"] != "2" {
		t.Errorf("kid after rotation = %v, want 2", h["kid"])
	}
	for name, tk := range map[string]map[string]any{"old": before, "new": after} {
		if r := s.Do("GET", "/users/me", nil, bearer(tk)); r.Status != http.StatusOK {
			t.Errorf("%s token after rotation = %d", name, r.Status)
		}
	}
	if n := len(s.Do("GET", "/.well-known/jwks.json", nil).JSON(t)["keys"].([]any)); n != 2 {
		t.Errorf("jwks after rotation has %d keys, want 2", n)
	}
}

func grant(t *testing.T, s *stack, phone, role string) {
	t.Helper()
	var out strings.Builder
	if err := app.Run(context.Background(), []string{"grant-role", "--phone", phone, "--role", role}, testenv.Getenv(s.vars), &out); err != nil {
		t.Fatalf("grant-role: %v", err)
	}
	if !strings.Contains(out.String(), role) {
		t.Errorf("grant-role said %q", out.String())
	}
}

func superuser(t *testing.T, s *stack, stmt string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), stmt, args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func superuserRow(t *testing.T, s *stack, query string, args []any, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), query, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// Registrations are limited per client IP, since each answers whether a phone,
// email or NIK is already registered.
func TestRegistrationRateLimit(t *testing.T) {
	t.Parallel()
	s := startStack(t, "REGISTRATIONS_PER_IP", "3")
	for i := range 3 {
		s.register(t, uniquePhone(), fmt.Sprintf("r%d@example.com", i))
	}
	r := s.JSON("POST", "/users/", map[string]any{"name": "Four", "phone": uniquePhone(), "email": "four@example.com"})
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("4th registration from one IP = %d %v, want 429 with Retry-After", r.Status, r.Header)
	}
}

// New codes reset a code's tries, so guesses at live codes on one phone are
// capped across codes; guesses without a live code do not count, so nobody can
// lock a phone out without flooding it with codes.
func TestCodeGuessesPerPhoneAreCapped(t *testing.T) {
	t.Parallel()
	s := startStack(t, "CODE_GUESSES_PER_PHONE_IP", "4")
	phone := uniquePhone()
	s.register(t, phone, "guess@example.com")
	for i := range 10 { // no live code: refused, and not counted
		if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": fmt.Sprintf("%06d", i)}); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess without a code = %d, want 401", r.Status)
		}
	}
	s.JSON("POST", "/auth/otp", map[string]any{"phone": phone})
	code := s.sms.LoginCode(phone)
	wrong := fmt.Sprintf("%06d", (atoi(code)+1)%1_000_000)
	for i := range 4 {
		if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": wrong}); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d, want 401", i+1, r.Status)
		}
	}
	if r := s.JSON("POST", "/auth/token", map[string]any{"phone": phone, "code": code}); r.Status != http.StatusTooManyRequests {
		t.Errorf("5th guess at a live code with the cap at 4 = %d, want 429", r.Status)
	}
}
