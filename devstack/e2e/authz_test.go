package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/pii"
	"amancair.dev/pkg/testenv"
	"amancair.dev/pkg/transit"
)

// person is a registered, logged-in user with a device and a contact.
type person struct {
	id       int64
	phone    string
	email    string
	auth     string
	name     string
	android  string // its device's android_id
	contact  string // its contact's id
	contactN string // its contact's name
	contactP string // its contact's phone
}

var phoneSeq int64 = time.Now().UnixNano() % 10000

func newPerson(t *testing.T, api *testenv.Client, sms *testenv.Inbox, name string) person {
	t.Helper()
	phoneSeq++
	p := person{phone: fmt.Sprintf("+62813%04d%04d", time.Now().Unix()%10000, phoneSeq), email: strings.ToLower(name) + testenv.RandomID(3) + "@example.com"}
	name += " Wulandari " + letters(6)
	r := api.JSON("POST", "/users/", map[string]any{"name": name, "phone": p.phone, "email": p.email})
	if r.Status != http.StatusCreated {
		t.Fatalf("register %s = %d %s", name, r.Status, r.Body)
	}
	p.id = int64(r.JSON(t)["id"].(float64))
	p.auth = bearer(login(t, api, sms, p.phone))
	android := testenv.RandomID(8)
	if r := api.JSON("POST", "/devices/", map[string]any{"android_id": android}, p.auth); r.Status != http.StatusCreated {
		t.Fatalf("device of %s = %d %s", name, r.Status, r.Body)
	}
	p.contactN = "Sister of " + name
	phoneSeq++
	p.contactP = fmt.Sprintf("+62857%04d%04d", time.Now().Unix()%10000, phoneSeq)
	r = api.JSON("POST", fmt.Sprintf("/emergency/%d", p.id), map[string]any{"contact_name": p.contactN,
		"contact_phone": p.contactP}, p.auth)
	if r.Status != http.StatusCreated {
		t.Fatalf("contact of %s = %d %s", name, r.Status, r.Body)
	}
	p.contact = fmt.Sprint(r.JSON(t)["id"])
	p.name, p.android = name, android
	remember(p.name, p.phone, p.phone[3:], p.email, p.contactN, p.contactP, p.android)
	return p
}

// OWASP API1/API5: user A's token against every route that takes user B's id or
// B's object gets 403 or 404 and none of B's data.
func testNoPathToAnotherPersonsData(t *testing.T) {
	t.Parallel()
	sms := testenv.Subscribe(t, stack.NATSURL, smsSubject)
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	a, b := newPerson(t, api, sms, "Ayu"), newPerson(t, api, sms, "Bayu")
	contactBody := map[string]any{"contact_name": "Mallory", "contact_phone": "+628999000111"}

	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", fmt.Sprintf("/users/%d", b.id), nil},
		{"PATCH", fmt.Sprintf("/users/%d", b.id), map[string]any{"name": "Pwned"}},
		{"GET", fmt.Sprintf("/devices/?user_id=%d", b.id), nil},
		{"POST", "/devices/", map[string]any{"user_id": b.id, "android_id": "0000000000000abc"}},
		{"GET", fmt.Sprintf("/emergency/%d", b.id), nil},
		{"POST", fmt.Sprintf("/emergency/%d", b.id), contactBody},
		{"PUT", fmt.Sprintf("/emergency/%d/%s", b.id, b.contact), contactBody},
		{"DELETE", fmt.Sprintf("/emergency/%d/%s", b.id, b.contact), nil},
		{"PUT", fmt.Sprintf("/emergency/%d/%s", a.id, b.contact), contactBody},
		{"DELETE", fmt.Sprintf("/emergency/%d/%s", a.id, b.contact), nil},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			var r testenv.Response
			if rt.body != nil {
				r = api.JSON(rt.method, rt.path, rt.body, a.auth)
			} else {
				r = api.Do(rt.method, rt.path, nil, a.auth)
			}
			if r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
				t.Errorf("status %d, want 403 or 404: %s", r.Status, r.Body)
			}
			for _, secret := range []string{b.email, b.phone, b.contactN, `"user_id":` + strconv.FormatInt(b.id, 10)} {
				if strings.Contains(string(r.Body), secret) {
					t.Errorf("response shows B's data %q: %s", secret, r.Body)
				}
			}
		})
	}
	// And B's data is untouched.
	var list []map[string]any
	r := api.Do("GET", fmt.Sprintf("/emergency/%d", b.id), nil, b.auth)
	mustJSON(t, r.Body, &list)
	if len(list) != 1 || list[0]["contact_name"] != b.contactN {
		t.Errorf("B's contacts after A's attempts: %s", r.Body)
	}
	if u := api.Do("GET", "/users/me", nil, b.auth).JSON(t); u["name"] != b.name {
		t.Errorf("B's name after A's attempts: %v", u["name"])
	}
}

// OWASP API2: forged and misused tokens get 401 from every service, through the
// gateway. Tokens are signed by the real key in Vault where the attack needs it.
func testForgedTokensAreRefused(t *testing.T) {
	t.Parallel()
	sms := testenv.Subscribe(t, stack.NATSURL, smsSubject)
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	p := newPerson(t, api, sms, "Citra")
	good := strings.TrimPrefix(p.auth, "Authorization: Bearer ")
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding

	vc, err := pii.NewVaultClient(stack.VaultAddr, stack.VaultToken)
	if err != nil {
		t.Fatal(err)
	}
	engine := transit.New(vc, "transit")
	vaultSigned := func(kid string, mod func(*auth.Claims)) string {
		now := time.Now()
		c := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "amancair-identity", Subject: strconv.FormatInt(p.id, 10),
			Audience: jwt.ClaimStrings{"amancair-api"}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
			IssuedAt: jwt.NewNumericDate(now), ID: testenv.RandomID(8)}, Roles: []string{"customer"}}
		mod(&c)
		tok, err := auth.Sign(c, kid, func(in []byte) ([]byte, error) {
			return engine.Sign(context.Background(), "identity-jwt", 1, in)
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	var jwks struct {
		Keys []struct{ X string } `json:"keys"`
	}
	mustJSON(t, api.Do("GET", "/.well-known/jwks.json", nil).Body, &jwks)
	pub, _ := enc.DecodeString(jwks.Keys[0].X)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "amancair-identity", "aud": "amancair-api",
		"sub": strconv.FormatInt(p.id, 10), "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "jti": "x", "roles": []string{"admin"}})
	hs.Header["kid"] = "1"
	hsToken, _ := hs.SignedString(pub)
	payload, _ := enc.DecodeString(parts[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	claims["roles"] = []string{"admin"}
	forged, _ := json.Marshal(claims)

	attacks := map[string]string{
		"alg none":            enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"1"}`)) + "." + parts[1] + ".",
		"HS256 with the JWKS": hsToken,
		"expired":             vaultSigned("1", func(c *auth.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour)) }),
		"wrong audience":      vaultSigned("1", func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"another-app"} }),
		"wrong issuer":        vaultSigned("1", func(c *auth.Claims) { c.Issuer = "https://evil.example" }),
		"unknown kid":         vaultSigned("77", func(*auth.Claims) {}),
		"tampered payload":    parts[0] + "." + enc.EncodeToString(forged) + "." + parts[2],
	}
	targets := []string{"/users/me", "/devices/", fmt.Sprintf("/emergency/%d", p.id)}
	for name, tok := range attacks {
		for _, path := range targets {
			if r := api.Do("GET", path, nil, "Authorization: Bearer "+tok); r.Status != http.StatusUnauthorized {
				t.Errorf("%s on %s = %d %s, want 401", name, path, r.Status, r.Body)
			}
		}
	}
	// The genuine token works everywhere, so the 401s above are the attacks' doing.
	for _, path := range targets {
		if r := api.Do("GET", path, nil, p.auth); r.Status != http.StatusOK {
			t.Errorf("genuine token on %s = %d %s", path, r.Status, r.Body)
		}
	}
	// A token for a user who does not exist, signed by the real key: identity refuses it.
	ghost := vaultSigned("1", func(c *auth.Claims) { c.Subject = "987654321" })
	if r := api.Do("GET", "/users/me", nil, "Authorization: Bearer "+ghost); r.Status != http.StatusUnauthorized {
		t.Errorf("token of an unknown user on /users/me = %d, want 401", r.Status)
	}
}

// Rotating the signing key in Vault needs no restart: identity signs new tokens
// with the new version at once (within its 5 s cache), and the other services
// fetch the new key the first time a token names it; old tokens keep working.
func testSigningKeyRotation(t *testing.T) {
	t.Parallel()
	sms := testenv.Subscribe(t, stack.NATSURL, smsSubject)
	api := testenv.NewClient(t, stack.GatewayURL, nil)
	p := newPerson(t, api, sms, "Dewi")
	vc, err := pii.NewVaultClient(stack.VaultAddr, stack.VaultToken)
	if err != nil {
		t.Fatal(err)
	}
	engine := transit.New(vc, "transit")
	before, err := engine.ReadKey(context.Background(), "identity-jwt")
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Rotate(context.Background(), "identity-jwt"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	fresh := bearer(login(t, api, sms, p.phone))
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(strings.TrimPrefix(fresh, "Authorization: Bearer "), ".")[0])
	if want := fmt.Sprintf(`"kid":"%d"`, before.Latest+1); !strings.Contains(string(header), want) {
		t.Fatalf("token after rotation has header %s, want %s", header, want)
	}
	for _, path := range []string{"/users/me", "/devices/", fmt.Sprintf("/emergency/%d", p.id)} {
		for name, tok := range map[string]string{"old": p.auth, "new": fresh} {
			if r := api.Do("GET", path, nil, tok); r.Status != http.StatusOK {
				t.Errorf("%s token on %s after rotation = %d %s", name, path, r.Status, r.Body)
			}
		}
	}
}
