package pii

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func testCipher(t *testing.T) *Cipher {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	c, err := newCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	c := testCipher(t)
	ct := c.Seal("3201525205900001", "users", "national_id", 7)
	if ct[0] != formatV1 || bytes.Contains(ct, []byte("3201525205900001")) {
		t.Fatalf("ciphertext %x: want the version byte first and no plaintext", ct)
	}
	if got, err := c.Open(ct, "users", "national_id", 7); err != nil || got != "3201525205900001" {
		t.Errorf("Open = %q, %v", got, err)
	}
	if again := c.Seal("3201525205900001", "users", "national_id", 7); bytes.Equal(again, ct) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if c.Seal("", "users", "dob", 7) != nil {
		t.Error("an empty value should stay empty (NULL)")
	}
}

// A ciphertext copied to another row, another column or another user's key, or
// altered, does not decrypt.
func TestOpenRefusesMovedOrAlteredCiphertext(t *testing.T) {
	t.Parallel()
	c := testCipher(t)
	ct := c.Seal("Budi", "users", "name", 1)
	altered := bytes.Clone(ct)
	altered[len(altered)-1] ^= 1
	newer := bytes.Clone(ct)
	newer[0] = 0x02
	tests := []struct {
		name          string
		c             *Cipher
		ct            []byte
		table, column string
		row           int64
	}{
		{"another row", c, ct, "users", "name", 2},
		{"another column", c, ct, "users", "email", 1},
		{"another table", c, ct, "emergency_contacts", "name", 1},
		{"another user's key", testCipher(t), ct, "users", "name", 1},
		{"altered", c, altered, "users", "name", 1},
		{"unknown format version", c, newer, "users", "name", 1},
		{"truncated", c, ct[:10], "users", "name", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := tt.c.Open(tt.ct, tt.table, tt.column, tt.row); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open = %q, %v; want ErrCorrupt", got, err)
			}
		})
	}
}

func TestBlindIndex(t *testing.T) {
	t.Parallel()
	a := &Index{version: 1, key: bytes.Repeat([]byte{1}, 32)}
	b := &Index{version: 1, key: bytes.Repeat([]byte{2}, 32)}
	if !bytes.Equal(a.Of("users.phone", "+628123456789"), a.Of("users.phone", "+628123456789")) {
		t.Error("the index of a value is not stable")
	}
	if bytes.Equal(a.Of("users.phone", "+628123456789"), a.Of("contacts.phone", "+628123456789")) {
		t.Error("the same value under two purposes has the same index")
	}
	if bytes.Equal(a.Of("users.phone", "+628123456789"), b.Of("users.phone", "+628123456789")) {
		t.Error("the index does not depend on the key")
	}
	if a.Of("users.phone", "") != nil {
		t.Error("an empty value should have no index (NULL)")
	}
}
