// Package audit is the domain of the audit trail: entries made from events, the
// hash chain that makes tampering evident, and who may read the trail.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/events"
)

// ErrForbidden means the caller is neither auditor nor admin.
var ErrForbidden = errors.New("audit trail is for auditors and admins")

// Entry is one row of the trail. It holds ids and names, never personal data.
type Entry struct {
	Seq           int64             `json:"seq"`
	EventID       string            `json:"event_id"`
	Type          string            `json:"type"`
	Service       string            `json:"service"`
	ActorID       *int64            `json:"actor_id"`
	ActorRoles    []string          `json:"actor_roles"`
	SubjectUserID *int64            `json:"subject_user_id"`
	OccurredAt    time.Time         `json:"occurred_at"`
	TraceID       string            `json:"trace_id"`
	ClientIP      string            `json:"client_ip"`
	Fields        []string          `json:"fields"`
	Refs          map[string]int64  `json:"refs"`
	Attrs         map[string]string `json:"attrs"`
	PrevHash      []byte            `json:"-"`
	Hash          []byte            `json:"-"`
}

// FromEvent makes the entry for ce, before it has a place in the chain. Times are
// kept to the microsecond, as PostgreSQL stores them, so hashes recompute exactly.
func FromEvent(ce events.CloudEvent) Entry {
	e := Entry{
		EventID: ce.ID, Type: ce.Type, Service: ce.Service(), ActorID: ce.Data.ActorID, ActorRoles: ce.Data.ActorRoles,
		SubjectUserID: ce.Data.SubjectUserID, OccurredAt: ce.Time.UTC().Truncate(time.Microsecond),
		TraceID: ce.TraceID(), ClientIP: ce.Data.ClientIP, Fields: ce.Data.Fields, Refs: ce.Data.Refs, Attrs: ce.Data.Attrs,
	}
	return e.Normalize()
}

// Normalize makes empty lists and maps non-nil, so an entry hashes the same
// whether it was just made or read back from the database.
func (e Entry) Normalize() Entry {
	if e.ActorRoles == nil {
		e.ActorRoles = []string{}
	}
	if e.Fields == nil {
		e.Fields = []string{}
	}
	if e.Refs == nil {
		e.Refs = map[string]int64{}
	}
	if e.Attrs == nil {
		e.Attrs = map[string]string{}
	}
	return e
}

// GenesisHash is the previous hash of the first entry.
var GenesisHash = make([]byte, sha256.Size)

// Canonical is the byte form an entry's hash covers: its JSON with the fields in
// declaration order, map keys sorted, times in RFC 3339 UTC with microseconds.
func (e Entry) Canonical() []byte {
	c := e
	c.OccurredAt = e.OccurredAt.UTC()
	b, _ := json.Marshal(c)
	return b
}

// Chain sets e's place after prev (seq and hash) and computes its hash:
// SHA-256(prev_hash || canonical(e)).
func (e *Entry) Chain(prevSeq int64, prevHash []byte) {
	e.Seq, e.PrevHash = prevSeq+1, prevHash
	e.Hash = e.ComputeHash()
}

// ComputeHash recomputes the entry's hash from its prev_hash and content.
func (e Entry) ComputeHash() []byte {
	h := sha256.New()
	h.Write(e.PrevHash)
	h.Write(e.Canonical())
	return h.Sum(nil)
}

// Verification is the result of recomputing the chain.
type Verification struct {
	OK      bool   `json:"ok"`
	Checked int64  `json:"checked"`
	Broken  *int64 `json:"first_broken_seq,omitempty"`
	// Checkpoints counts the signed checkpoints the chain was held against.
	Checkpoints int `json:"checkpoints"`
}

// Checkpoint is a signed statement of the chain's head: at Seq the hash was Hash.
type Checkpoint struct {
	Seq        int64
	Hash       []byte
	KeyVersion int
	Signature  []byte
}

// CheckpointMessage is what a checkpoint's signature covers.
func CheckpointMessage(seq int64, hash []byte) []byte {
	msg := []byte("amancair-audit-checkpoint\x00")
	msg = binary.BigEndian.AppendUint64(msg, uint64(seq))
	return append(msg, hash...)
}

// PublishedCheckpoints reads checkpoints back from outside the database.
type PublishedCheckpoints interface {
	Latest(ctx context.Context) (c Checkpoint, ok bool, err error)
}

// Notary signs and checks checkpoints with a key only the audit service holds.
type Notary interface {
	Sign(ctx context.Context, msg []byte) (version int, sig []byte, err error)
	Verify(ctx context.Context, version int, msg, sig []byte) (bool, error)
}

// Verifier walks the chain in seq order and returns the first entry whose seq,
// previous hash or hash does not follow.
type Verifier struct {
	prevSeq  int64
	prevHash []byte
	result   Verification
}

// NewVerifier starts at the genesis.
func NewVerifier() *Verifier { return &Verifier{prevHash: GenesisHash, result: Verification{OK: true}} }

// Add checks the next entry; it returns false once the chain is broken.
func (v *Verifier) Add(e Entry) bool {
	if !v.result.OK {
		return false
	}
	if e.Seq != v.prevSeq+1 || !bytes.Equal(e.PrevHash, v.prevHash) || !bytes.Equal(e.Hash, e.ComputeHash()) {
		seq := e.Seq
		if e.Seq != v.prevSeq+1 {
			seq = v.prevSeq + 1 // a missing row breaks the chain where it was
		}
		v.result.OK, v.result.Broken = false, &seq
		return false
	}
	v.prevSeq, v.prevHash = e.Seq, e.Hash
	v.result.Checked++
	return true
}

// Result is the verification so far.
func (v *Verifier) Result() Verification { return v.result }

// Filter selects entries; zero values select everything.
type Filter struct {
	SubjectUserID int64
	ActorID       int64
	Type          string
	Since, Until  time.Time
	Limit         int
	// Before is the cursor: only entries with a smaller seq.
	Before int64
}

// Repository stores the trail; postgres implements it.
type Repository interface {
	// Append adds the events not yet in the trail, in order, extending the chain.
	Append(ctx context.Context, batch []events.CloudEvent) (added int, err error)
	// List returns entries matching f, newest first.
	List(ctx context.Context, f Filter) ([]Entry, error)
	// Walk calls fn with every entry in seq order until fn returns false.
	Walk(ctx context.Context, fn func(Entry) bool) error
	// Head returns the last entry's seq and hash (0 and nil for an empty trail).
	Head(ctx context.Context) (int64, []byte, error)
	// Checkpoints returns every checkpoint, oldest first; LastCheckpoint the newest seq.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
	// AddCheckpoint stores a checkpoint (and publishes it).
	AddCheckpoint(ctx context.Context, c Checkpoint) error
	// HashAt returns entry seq's hash, nil if there is none.
	HashAt(ctx context.Context, seq int64) ([]byte, error)
}

// Service holds the audit use cases.
type Service struct {
	repo      Repository
	notary    Notary
	published PublishedCheckpoints
}

// NewService returns the use cases over repo, checkpoints signed by notary and
// read back from published.
func NewService(repo Repository, notary Notary, published PublishedCheckpoints) *Service {
	return &Service{repo: repo, notary: notary, published: published}
}

// ErrChainDiverged means the trail no longer matches the newest checkpoint
// published outside the database: it was rewritten or cut.
var ErrChainDiverged = errors.New("audit chain no longer matches its published checkpoint")

func allowed(ctx context.Context) error {
	if c, ok := auth.CallerFrom(ctx); ok && c.Has(auth.RoleAuditor, auth.RoleAdmin) {
		return nil
	}
	return ErrForbidden
}

// Events lists entries for an auditor or admin.
func (s *Service) Events(ctx context.Context, f Filter) ([]Entry, error) {
	if err := allowed(ctx); err != nil {
		return nil, err
	}
	return s.repo.List(ctx, f)
}

// Verify recomputes the whole chain for an auditor or admin.
func (s *Service) Verify(ctx context.Context) (Verification, error) {
	if err := allowed(ctx); err != nil {
		return Verification{}, err
	}
	return VerifyAll(ctx, s.repo, s.notary, s.published)
}

// Checkpoint signs the chain's head if it moved since the last checkpoint. It
// refuses when the chain no longer matches the newest published checkpoint, so
// a rewritten trail never gets a genuine signature.
func (s *Service) Checkpoint(ctx context.Context) error {
	if last, ok, err := s.published.Latest(ctx); err != nil {
		return err
	} else if ok {
		hash, err := s.repo.HashAt(ctx, last.Seq)
		if err != nil {
			return err
		}
		if !bytes.Equal(hash, last.Hash) {
			return ErrChainDiverged
		}
	}
	seq, hash, err := s.repo.Head(ctx)
	if err != nil || seq == 0 {
		return err
	}
	cps, err := s.repo.Checkpoints(ctx)
	if err != nil {
		return err
	}
	if n := len(cps); n > 0 && cps[n-1].Seq >= seq {
		return nil
	}
	version, sig, err := s.notary.Sign(ctx, CheckpointMessage(seq, hash))
	if err != nil {
		return err
	}
	return s.repo.AddCheckpoint(ctx, Checkpoint{Seq: seq, Hash: hash, KeyVersion: version, Signature: sig})
}

// VerifyAll recomputes the whole chain (for the command line, too) and holds it
// against every signed checkpoint: each must be genuine and match the chain at
// its seq, and the chain must reach the newest one — so rewriting the trail,
// or cutting its tail, is found even by someone who can rewrite every hash.
func VerifyAll(ctx context.Context, repo Repository, notary Notary, published PublishedCheckpoints) (Verification, error) {
	cps, err := repo.Checkpoints(ctx)
	if err != nil {
		return Verification{}, err
	}
	// The newest checkpoint published outside the database counts too: deleting
	// checkpoints from the table does not hide a cut tail.
	if published != nil {
		last, ok, err := published.Latest(ctx)
		if err != nil {
			return Verification{}, err
		}
		if ok && (len(cps) == 0 || cps[len(cps)-1].Seq < last.Seq) {
			cps = append(cps, last)
		}
	}
	at := make(map[int64][]byte, len(cps))
	for _, c := range cps {
		at[c.Seq] = nil
	}
	v := NewVerifier()
	if err := repo.Walk(ctx, func(e Entry) bool {
		if _, ok := at[e.Seq]; ok {
			at[e.Seq] = e.Hash
		}
		return v.Add(e)
	}); err != nil {
		return Verification{}, err
	}
	res := v.Result()
	// Every checkpoint must match the chain at its seq (cheap, in memory); the
	// newest one's signature vouches for everything before it, since the chain
	// links each row to all earlier ones.
	for i, c := range cps {
		if !res.OK {
			break
		}
		genuine := true
		if i == len(cps)-1 {
			if genuine, err = notary.Verify(ctx, c.KeyVersion, CheckpointMessage(c.Seq, c.Hash), c.Signature); err != nil {
				return Verification{}, err
			}
		}
		if !genuine || !bytes.Equal(at[c.Seq], c.Hash) {
			seq := c.Seq
			if c.Seq > res.Checked {
				seq = res.Checked + 1 // the chain stops short of a signed head
			}
			res.OK, res.Broken = false, &seq
			break
		}
		res.Checkpoints++
	}
	return res, nil
}
