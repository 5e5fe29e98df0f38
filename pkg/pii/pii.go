package pii

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jackc/pgx/v5"

	"amancair.dev/pkg/transit"
)

// KeysDDL creates the tables of a service's keys: one data key per user, and
// the blind-index key, each stored only wrapped by the service's transit key.
const KeysDDL = `
CREATE TABLE IF NOT EXISTS data_keys (
    user_id      bigint PRIMARY KEY,
    wrapped      text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz
);
CREATE TABLE IF NOT EXISTS index_keys (
    version    integer PRIMARY KEY,
    wrapped    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
`

// formatV1 is the first byte of every ciphertext: AES-256-GCM, 12-byte nonce.
const formatV1 = 0x01

// ErrNoKey means the user's data key is gone: the user was erased, and what was
// encrypted for them can no longer be read by anyone.
var ErrNoKey = errors.New("pii: no data key for this user")

// ErrCorrupt means a ciphertext failed authentication: altered, or moved from
// another row or column.
var ErrCorrupt = errors.New("pii: ciphertext does not authenticate")

// Keyring holds a service's data keys: generated and wrapped by Vault, stored
// wrapped in the service's schema, and kept unwrapped in a bounded, expiring
// cache so an ordinary request makes no Vault call.
type Keyring struct {
	engine  *transit.Engine
	keyName string
	cache   *expirable.LRU[int64, *Cipher]

	mu    sync.Mutex
	index *Index
}

// NewKeyring returns the keyring wrapping data keys with the transit key keyName,
// caching at most size unwrapped keys for ttl each.
func NewKeyring(engine *transit.Engine, keyName string, size int, ttl time.Duration) *Keyring {
	return &Keyring{engine: engine, keyName: keyName, cache: expirable.NewLRU[int64, *Cipher](size, nil, ttl)}
}

// KeyName is the transit key that wraps this keyring's keys.
func (k *Keyring) KeyName() string { return k.keyName }

// NewKey is a fresh data key, not yet stored.
type NewKey struct {
	*Cipher
	wrapped string
}

// Generate asks Vault for a new data key. Call it before opening the transaction
// that stores it, so a Vault outage fails the request before anything is written.
func (k *Keyring) Generate(ctx context.Context) (*NewKey, error) {
	plain, wrapped, err := k.engine.DataKey(ctx, k.keyName)
	if err != nil {
		return nil, err
	}
	c, err := newCipher(plain)
	if err != nil {
		return nil, err
	}
	return &NewKey{Cipher: c, wrapped: wrapped}, nil
}

// Store saves the new key, wrapped, as userID's key in tx. If the user got a key
// meanwhile (a concurrent first write), that key is returned instead and n's is
// discarded.
func (k *Keyring) Store(ctx context.Context, tx pgx.Tx, userID int64, n *NewKey) (*Cipher, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO data_keys (user_id, wrapped) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING`, userID, n.wrapped)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 1 {
		// Not cached: if tx rolls back, the key must not outlive it.
		return n.Cipher, nil
	}
	return k.Cipher(ctx, tx, userID)
}

// Cipher returns userID's data key, from the cache or by unwrapping the stored
// key in Vault; ErrNoKey when the user has none (erased, or never written).
func (k *Keyring) Cipher(ctx context.Context, tx pgx.Tx, userID int64) (*Cipher, error) {
	if c, ok := k.cache.Get(userID); ok {
		return c, nil
	}
	var wrapped string
	err := tx.QueryRow(ctx, `SELECT wrapped FROM data_keys WHERE user_id = $1`, userID).Scan(&wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, err
	}
	plain, err := k.engine.Unwrap(ctx, k.keyName, wrapped)
	if err != nil {
		return nil, err
	}
	c, err := newCipher(plain)
	if err != nil {
		return nil, err
	}
	k.cache.Add(userID, c)
	return c, nil
}

// CipherOrCreate returns userID's data key, creating it (in Vault, then stored
// in tx) when the user has none yet, as on a user's first device or contact.
func (k *Keyring) CipherOrCreate(ctx context.Context, tx pgx.Tx, userID int64) (*Cipher, error) {
	c, err := k.Cipher(ctx, tx, userID)
	if !errors.Is(err, ErrNoKey) {
		return c, err
	}
	n, err := k.Generate(ctx)
	if err != nil {
		return nil, err
	}
	return k.Store(ctx, tx, userID, n)
}

// EraseRows returns what a service runs in tx when a user is erased: under the
// per-user lock its writes take (lock names it), the user's data key is
// destroyed, then the user's rows in table are deleted — so no write that
// checked the user before the erasure can land after it.
func (k *Keyring) EraseRows(table, lock string) func(ctx context.Context, tx pgx.Tx, userID int64) error {
	del := "DELETE FROM " + pgx.Identifier{table}.Sanitize() + " WHERE user_id = $1"
	return func(ctx context.Context, tx pgx.Tx, userID int64) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, $2))`, lock, userID); err != nil {
			return err
		}
		if err := k.Destroy(ctx, tx, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, del, userID)
		return err
	}
}

// Destroy deletes userID's data key in tx and forgets it: everything encrypted
// under it is unreadable from then on (crypto-shredding).
func (k *Keyring) Destroy(ctx context.Context, tx pgx.Tx, userID int64) error {
	k.cache.Remove(userID)
	if _, err := tx.Exec(ctx, `DELETE FROM data_keys WHERE user_id = $1`, userID); err != nil {
		return err
	}
	k.cache.Remove(userID) // a read may have cached it meanwhile
	return nil
}

// Forget drops userID's key from the cache (after the transaction that destroyed
// it committed).
func (k *Keyring) Forget(userID int64) { k.cache.Remove(userID) }

// Cipher encrypts and decrypts values with one data key, binding each ciphertext
// to its table, column and row.
type Cipher struct{ aead cipher.AEAD }

func newCipher(key []byte) (*Cipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead}, nil
}

func aad(table, column string, rowID int64) []byte {
	return []byte("amancair/v1/" + table + "/" + column + "/" + strconv.FormatInt(rowID, 10))
}

// Seal encrypts value for table.column of row rowID; an empty value stays empty
// (stored as NULL).
func (c *Cipher) Seal(value, table, column string, rowID int64) []byte {
	if value == "" {
		return nil
	}
	out := make([]byte, 1+12, 1+12+len(value)+c.aead.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:13]); err != nil {
		panic(fmt.Sprintf("pii: no randomness: %v", err)) // crypto/rand does not fail on Linux
	}
	return c.aead.Seal(out, out[1:13], []byte(value), aad(table, column, rowID))
}

// Open decrypts what Seal made for the same table, column and row.
func (c *Cipher) Open(ct []byte, table, column string, rowID int64) (string, error) {
	if len(ct) == 0 {
		return "", nil
	}
	if len(ct) < 1+12+c.aead.Overhead() || ct[0] != formatV1 {
		return "", ErrCorrupt
	}
	plain, err := c.aead.Open(nil, ct[1:13], ct[13:], aad(table, column, rowID))
	if err != nil {
		return "", ErrCorrupt
	}
	return string(plain), nil
}

// Index computes blind indexes: keyed hashes that let the database find and
// keep unique a value it cannot read.
type Index struct {
	version int
	key     []byte
}

// Of returns the blind index of value for a purpose ("users.phone"), so equal
// values in different columns do not share an index.
func (ix *Index) Of(purpose, value string) []byte {
	if value == "" {
		return nil
	}
	m := hmac.New(sha256.New, ix.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}

// Index returns the service's blind-index key: created once (version 1) and
// stored wrapped, then unwrapped once per process. Its version is pinned in the
// database, so rotating the transit key never changes it and look-ups keep working.
func (k *Keyring) Index(ctx context.Context, tx pgx.Tx) (*Index, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.index != nil {
		return k.index, nil
	}
	var (
		version int
		wrapped string
	)
	err := tx.QueryRow(ctx, `SELECT version, wrapped FROM index_keys ORDER BY version DESC LIMIT 1`).Scan(&version, &wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errors.New("pii: no blind-index key; run the service's migrate command")
	}
	if err != nil {
		return nil, err
	}
	plain, err := k.engine.Unwrap(ctx, k.keyName, wrapped)
	if err != nil {
		return nil, err
	}
	k.index = &Index{version: version, key: plain}
	return k.index, nil
}

// LoadedIndex returns the blind-index key if this process has unwrapped it already.
func (k *Keyring) LoadedIndex() *Index {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.index
}

// EnsureIndexKey creates the blind-index key if the schema has none; migrate
// calls it.
func EnsureIndexKey(ctx context.Context, engine *transit.Engine, keyName string, exec func(ctx context.Context, sql string, args ...any) error) error {
	_, wrapped, err := engine.DataKey(ctx, keyName)
	if err != nil {
		return err
	}
	return exec(ctx, `INSERT INTO index_keys (version, wrapped) VALUES (1, $1) ON CONFLICT (version) DO NOTHING`, wrapped)
}
