// Package notary signs the audit chain's checkpoints with the Vault transit key
// audit-chain (Ed25519; only the audit service may use it) and checks them
// against the key's public versions.
package notary

import (
	"context"
	"crypto/ed25519"

	"amancair.dev/pkg/transit"
)

// Key is the transit key that signs checkpoints.
const Key = "audit-chain"

// Keys are the transit keys the audit service uses, for `audit migrate` to create.
var Keys = []transit.KeySpec{{Name: Key, Type: "ed25519"}}

// Notary implements audit.Notary with Vault.
type Notary struct{ engine *transit.Engine }

// New returns a notary using engine.
func New(engine *transit.Engine) *Notary { return &Notary{engine: engine} }

// Sign signs msg with the key's latest version inside Vault.
func (n *Notary) Sign(ctx context.Context, msg []byte) (int, []byte, error) {
	info, err := n.engine.ReadKey(ctx, Key)
	if err != nil {
		return 0, nil, err
	}
	sig, err := n.engine.Sign(ctx, Key, info.Latest, msg)
	return info.Latest, sig, err
}

// Verify checks sig over msg with the public key of version.
func (n *Notary) Verify(ctx context.Context, version int, msg, sig []byte) (bool, error) {
	info, err := n.engine.ReadKey(ctx, Key)
	if err != nil {
		return false, err
	}
	pub, ok := info.PublicKeys[version]
	if !ok {
		return false, nil
	}
	return ed25519.Verify(ed25519.PublicKey(pub), msg, sig), nil
}
