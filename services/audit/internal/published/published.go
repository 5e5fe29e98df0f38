// Package published reads the audit chain's checkpoints back from the JetStream
// stream they were published to — a copy outside PostgreSQL that nobody can
// delete, which a database owner who rewrites the trail cannot touch.
package published

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"amancair.dev/pkg/events"
	"amancair.dev/services/audit/internal/audit"
	"amancair.dev/services/audit/internal/postgres"
)

// Checkpoints implements audit.PublishedCheckpoints.
type Checkpoints struct {
	js      jetstream.JetStream
	stream  string
	subject string
}

// New reads checkpoints from stream on nc; prefix is the event subjects' prefix.
func New(nc *nats.Conn, stream jetstream.StreamConfig, prefix string) (*Checkpoints, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Checkpoints{js: js, stream: stream.Name, subject: events.Subject(prefix, "audit", postgres.CheckpointEvent)}, nil
}

// Latest returns the newest published checkpoint, if any.
func (p *Checkpoints) Latest(ctx context.Context) (audit.Checkpoint, bool, error) {
	s, err := p.js.Stream(ctx, p.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return audit.Checkpoint{}, false, nil
	}
	if err != nil {
		return audit.Checkpoint{}, false, err
	}
	msg, err := s.GetLastMsgForSubject(ctx, p.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return audit.Checkpoint{}, false, nil
	}
	if err != nil {
		return audit.Checkpoint{}, false, err
	}
	ce, err := events.Parse(msg.Data)
	if err != nil {
		return audit.Checkpoint{}, false, err
	}
	hash, err := hex.DecodeString(ce.Data.Attrs["hash"])
	if err != nil {
		return audit.Checkpoint{}, false, err
	}
	sig, err := base64.StdEncoding.DecodeString(ce.Data.Attrs["signature"])
	if err != nil {
		return audit.Checkpoint{}, false, err
	}
	return audit.Checkpoint{Seq: ce.Data.Refs["seq"], Hash: hash, KeyVersion: int(ce.Data.Refs["key_version"]), Signature: sig}, true, nil
}
