package audit_test

import (
	"testing"
	"time"

	"amancair.dev/pkg/events"
	"amancair.dev/services/audit/internal/audit"
)

func chain(n int) []audit.Entry {
	prevSeq, prevHash := int64(0), audit.GenesisHash
	var out []audit.Entry
	for i := range n {
		uid := int64(i + 1)
		e := audit.FromEvent(events.CloudEvent{ID: "00000000-0000-7000-8000-00000000000" + string(rune('0'+i)), Source: "/amancair/identity",
			Type: "user.created", Time: time.Date(2026, 11, 26, 1, 2, 3, 456789123, time.UTC),
			Data: events.Data{SubjectUserID: &uid, Fields: []string{"name"}}})
		e.Chain(prevSeq, prevHash)
		prevSeq, prevHash = e.Seq, e.Hash
		out = append(out, e)
	}
	return out
}

func verify(entries []audit.Entry) audit.Verification {
	v := audit.NewVerifier()
	for _, e := range entries {
		if !v.Add(e) {
			break
		}
	}
	return v.Result()
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	if got := verify(chain(5)); !got.OK || got.Checked != 5 {
		t.Fatalf("intact chain: %+v", got)
	}
	tests := []struct {
		name   string
		tamper func([]audit.Entry) []audit.Entry
		broken int64
	}{
		{"changed type", func(es []audit.Entry) []audit.Entry { es[2].Type = "user.viewed"; return es }, 3},
		{"changed subject", func(es []audit.Entry) []audit.Entry { x := int64(99); es[1].SubjectUserID = &x; return es }, 2},
		{"changed time", func(es []audit.Entry) []audit.Entry { es[3].OccurredAt = es[3].OccurredAt.Add(time.Second); return es }, 4},
		{"removed row", func(es []audit.Entry) []audit.Entry { return append(es[:2], es[3:]...) }, 3},
		{"rehashed row", func(es []audit.Entry) []audit.Entry {
			es[1].Type = "user.erased"
			es[1].Hash = es[1].ComputeHash() // the attacker recomputes this row; the next one no longer follows
			return es
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := verify(tt.tamper(chain(5)))
			if got.OK || got.Broken == nil || *got.Broken != tt.broken {
				t.Errorf("verify = %+v, want broken at %d", got, tt.broken)
			}
		})
	}
}

func TestTimesAreHashedAtMicrosecondPrecision(t *testing.T) {
	t.Parallel()
	e := chain(1)[0]
	if e.OccurredAt.Nanosecond()%1000 != 0 {
		t.Errorf("occurred_at keeps nanoseconds (%d); PostgreSQL would round them away and break the hash", e.OccurredAt.Nanosecond())
	}
}
