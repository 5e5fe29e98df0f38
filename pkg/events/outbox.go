package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxDDL creates the outbox every service keeps in its own schema. Rows hold
// the finished CloudEvent (ids only, no personal data) until the relay has had
// JetStream acknowledge it.
const OutboxDDL = `
CREATE TABLE IF NOT EXISTS outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    subject     text        NOT NULL,
    event       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unsent_idx ON outbox (id) WHERE sent_at IS NULL;
`

// Outbox writes a service's events into its outbox, inside the transaction that
// makes the change, so an event exists exactly when its change does.
type Outbox struct {
	service string
	prefix  string
	now     func() time.Time
}

// NewOutbox returns the outbox of service, whose subjects start with prefix
// ("amancair" in production: amancair.<service>.<entity>.<action>).
func NewOutbox(service, prefix string) *Outbox {
	return &Outbox{service: service, prefix: prefix, now: time.Now}
}

// Subject is where an event of type ("user.created") from service is published.
func Subject(prefix, service, typ string) string {
	return prefix + "." + service + "." + typ
}

// Append writes evs in tx, enveloped with the actor and trace from ctx.
func (o *Outbox) Append(ctx context.Context, tx pgx.Tx, evs ...Event) error {
	for _, ev := range evs {
		if strings.Count(ev.Type, ".") != 1 {
			return fmt.Errorf("event type %q is not <entity>.<action>", ev.Type)
		}
		ce, err := envelope(ctx, o.service, ev, o.now())
		if err != nil {
			return err
		}
		body, err := json.Marshal(ce)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO outbox (event_id, subject, event) VALUES ($1, $2, $3)`,
			ce.ID, Subject(o.prefix, o.service, ev.Type), body); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
