// Package transit wraps the parts of Vault's transit engine AmanCair uses: named
// keys a service owns, signatures made inside Vault (the private key never leaves
// it), keyed hashes, and reading public keys. Every failure to reach Vault is an
// error that reports itself as unavailable, so callers answer 503 and write nothing.
package transit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// Engine is the transit engine mounted at Mount (default "transit").
type Engine struct {
	client *vault.Client
	mount  string
}

// New returns the engine at mount on client.
func New(client *vault.Client, mount string) *Engine {
	if mount == "" {
		mount = "transit"
	}
	return &Engine{client: client, mount: mount}
}

// UnavailableError means Vault could not be reached or refused service for now.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "vault unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err means Vault is unavailable.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// classify turns transport failures and Vault's 5xx/429 into UnavailableError;
// other errors (a missing key, a denied path) stay what they are.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var resp *vault.ResponseError
	if errors.As(err, &resp) && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("vault %s: %w", op, err)
	}
	return &UnavailableError{Err: fmt.Errorf("%s: %w", op, err)}
}

// KeySpec describes a key to create.
type KeySpec struct {
	Name string
	// Type is a transit key type: "ed25519", "ecdsa-p256", "aes256-gcm96", "hmac".
	Type string
}

// EnsureKeys creates each key unless it exists. Creating an existing key is a
// no-op in Vault, so concurrent callers are safe.
func (e *Engine) EnsureKeys(ctx context.Context, keys ...KeySpec) error {
	for _, k := range keys {
		_, err := e.client.Logical().WriteWithContext(ctx, e.mount+"/keys/"+k.Name, map[string]any{"type": k.Type})
		if err != nil {
			return classify("create key "+k.Name, err)
		}
	}
	return nil
}

// KeyInfo is what Vault says of a key's versions.
type KeyInfo struct {
	Latest int
	// PublicKeys maps each available version to its public key (asymmetric keys).
	PublicKeys map[int][]byte
}

// ReadKey returns the key's versions and, for asymmetric keys, their public keys.
func (e *Engine) ReadKey(ctx context.Context, name string) (KeyInfo, error) {
	sec, err := e.client.Logical().ReadWithContext(ctx, e.mount+"/keys/"+name)
	if err != nil {
		return KeyInfo{}, classify("read key "+name, err)
	}
	if sec == nil || sec.Data == nil {
		return KeyInfo{}, fmt.Errorf("vault: key %s does not exist", name)
	}
	info := KeyInfo{PublicKeys: map[int][]byte{}}
	if n, ok := sec.Data["latest_version"].(json.Number); ok {
		v, _ := n.Int64()
		info.Latest = int(v)
	}
	keys, _ := sec.Data["keys"].(map[string]any)
	for ver, raw := range keys {
		v, err := strconv.Atoi(ver)
		if err != nil {
			continue
		}
		m, ok := raw.(map[string]any)
		if !ok {
			continue // symmetric keys list only creation times
		}
		if pub, ok := m["public_key"].(string); ok && pub != "" {
			b, err := base64.StdEncoding.DecodeString(pub)
			if err != nil {
				return KeyInfo{}, fmt.Errorf("vault: public key %s v%d: %w", name, v, err)
			}
			info.PublicKeys[v] = b
		}
	}
	if info.Latest == 0 {
		return KeyInfo{}, fmt.Errorf("vault: key %s has no versions", name)
	}
	return info, nil
}

// Versions returns the key's available versions, oldest first.
func (k KeyInfo) Versions() []int {
	vs := make([]int, 0, len(k.PublicKeys))
	for v := range k.PublicKeys {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	return vs
}

// Sign signs input with version of the named key inside Vault and returns the raw
// signature.
func (e *Engine) Sign(ctx context.Context, name string, version int, input []byte) ([]byte, error) {
	sec, err := e.client.Logical().WriteWithContext(ctx, e.mount+"/sign/"+name, map[string]any{
		"input":       base64.StdEncoding.EncodeToString(input),
		"key_version": version,
	})
	if err != nil {
		return nil, classify("sign with "+name, err)
	}
	sig, _ := sec.Data["signature"].(string)
	_, raw, err := splitVaultValue(sig)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(raw)
}

// HMAC returns Vault's keyed hash of input under version of the named key (0: the
// latest) as "vault:v<N>:<base64>", so the version used travels with the hash.
func (e *Engine) HMAC(ctx context.Context, name string, version int, input []byte) (string, error) {
	data := map[string]any{"input": base64.StdEncoding.EncodeToString(input), "algorithm": "sha2-256"}
	if version > 0 {
		data["key_version"] = version
	}
	sec, err := e.client.Logical().WriteWithContext(ctx, e.mount+"/hmac/"+name, data)
	if err != nil {
		return "", classify("hmac with "+name, err)
	}
	h, _ := sec.Data["hmac"].(string)
	if _, _, err := splitVaultValue(h); err != nil {
		return "", err
	}
	return h, nil
}

// Version returns the key version a "vault:v<N>:…" value was made with.
func Version(value string) (int, error) {
	v, _, err := splitVaultValue(value)
	return v, err
}

func splitVaultValue(s string) (int, string, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] != "vault" || !strings.HasPrefix(parts[1], "v") {
		return 0, "", errors.New("vault: malformed transit value")
	}
	v, err := strconv.Atoi(parts[1][1:])
	if err != nil || v <= 0 {
		return 0, "", errors.New("vault: malformed transit key version")
	}
	return v, parts[2], nil
}

// Rotate adds a new version to the named key; new signatures and hashes use it.
func (e *Engine) Rotate(ctx context.Context, name string) error {
	_, err := e.client.Logical().WriteWithContext(ctx, e.mount+"/keys/"+name+"/rotate", nil)
	return classify("rotate "+name, err)
}

// DataKey asks Vault for a new 256-bit data key under the named key and returns
// it in the clear and wrapped ("vault:vN:…"); only the wrapped form is stored.
func (e *Engine) DataKey(ctx context.Context, name string) (plaintext []byte, wrapped string, err error) {
	sec, err := e.client.Logical().WriteWithContext(ctx, e.mount+"/datakey/plaintext/"+name, map[string]any{"bits": 256})
	if err != nil {
		return nil, "", classify("data key from "+name, err)
	}
	wrapped, _ = sec.Data["ciphertext"].(string)
	p, _ := sec.Data["plaintext"].(string)
	if plaintext, err = base64.StdEncoding.DecodeString(p); err != nil || len(plaintext) != 32 || wrapped == "" {
		return nil, "", errors.New("vault: malformed data key")
	}
	return plaintext, wrapped, nil
}

// Unwrap decrypts a wrapped data key.
func (e *Engine) Unwrap(ctx context.Context, name, wrapped string) ([]byte, error) {
	sec, err := e.client.Logical().WriteWithContext(ctx, e.mount+"/decrypt/"+name, map[string]any{"ciphertext": wrapped})
	if err != nil {
		return nil, classify("unwrap with "+name, err)
	}
	p, _ := sec.Data["plaintext"].(string)
	return base64.StdEncoding.DecodeString(p)
}

// Rewrap re-encrypts wrapped keys under the named key's latest version inside
// Vault, so no plaintext key ever leaves it. The result is in input order.
func (e *Engine) Rewrap(ctx context.Context, name string, wrapped []string) ([]string, error) {
	batch := make([]map[string]any, len(wrapped))
	for i, w := range wrapped {
		batch[i] = map[string]any{"ciphertext": w}
	}
	sec, err := e.client.Logical().WriteWithContext(ctx, e.mount+"/rewrap/"+name, map[string]any{"batch_input": batch})
	if err != nil {
		return nil, classify("rewrap with "+name, err)
	}
	results, _ := sec.Data["batch_results"].([]any)
	if len(results) != len(wrapped) {
		return nil, fmt.Errorf("vault: rewrap returned %d results for %d keys", len(results), len(wrapped))
	}
	out := make([]string, len(results))
	for i, r := range results {
		m, _ := r.(map[string]any)
		if msg, _ := m["error"].(string); msg != "" {
			return nil, fmt.Errorf("vault: rewrap item %d: %s", i, msg)
		}
		out[i], _ = m["ciphertext"].(string)
	}
	return out, nil
}
