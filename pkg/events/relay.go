package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
)

// StreamConfig is the stream all services publish into: every subject under the
// prefix, kept on disk, and neither deletable nor purgeable through the API.
func StreamConfig(name, prefix string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Subjects:    []string{prefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      90 * 24 * time.Hour,
		Duplicates:  2 * time.Minute,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
}

// EnsureStream creates the stream if it is missing and leaves an existing one as
// its operators configured it.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	if _, err := js.Stream(ctx, cfg.Name); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	_, err := js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil // another replica was quicker
	}
	return err
}

// Relay publishes a service's outbox to JetStream. Only the replica holding the
// outbox lease (a PostgreSQL session lock) relays, so events leave in outbox order
// and per-user order holds; if it dies, its connection and lease go with it and
// another replica takes over. A row is marked sent only after JetStream has
// acknowledged it, and each message carries Nats-Msg-Id = event id, so a retry
// after a lost acknowledgement is dropped as a duplicate.
type Relay struct {
	pool   *pgxpool.Pool
	js     jetstream.JetStream
	stream jetstream.StreamConfig
	lease  int64
	logger *slog.Logger
	batch  int
	idle   time.Duration
}

// NewRelay returns the relay of the outbox in pool's schema. lease names the
// outbox (one per service); meter gets the outbox.backlog gauge.
func NewRelay(pool *pgxpool.Pool, nc *nats.Conn, stream jetstream.StreamConfig, lease string, meter metric.Meter, logger *slog.Logger) (*Relay, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	r := &Relay{pool: pool, js: js, stream: stream, lease: leaseKey(lease), logger: logger, batch: 256, idle: 100 * time.Millisecond}
	_, err = meter.Int64ObservableGauge("outbox.backlog",
		metric.WithDescription("events written to the outbox and not yet acknowledged by JetStream"),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			var n int64
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n); err != nil {
				return nil // no reading rather than a wrong one
			}
			o.Observe(n)
			return nil
		}))
	return r, err
}

func leaseKey(name string) int64 {
	var h int64 = 1469598103934665603
	for _, c := range []byte("outbox:" + name) {
		h = (h ^ int64(c)) * 1099511628211
	}
	return h
}

// Run relays until ctx ends, riding out database and NATS outages.
func (r *Relay) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := r.holdLease(ctx); err != nil && ctx.Err() == nil {
			r.logger.Warn("outbox relay paused", "error", err.Error())
			sleep(ctx, time.Second)
		}
	}
	return nil
}

// holdLease takes the lease if it is free and relays while holding it.
func (r *Relay) holdLease(ctx context.Context) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, r.lease).Scan(&got); err != nil {
		return err
	}
	if !got {
		sleep(ctx, 2*time.Second) // another replica relays
		return nil
	}
	defer func() {
		// Unlock on a fresh context: ctx may be done. If the connection is broken
		// the lock is gone with it anyway.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, r.lease)
	}()
	if err := EnsureStream(ctx, r.js, r.stream); err != nil {
		return fmt.Errorf("stream %s: %w", r.stream.Name, err)
	}
	for round := 0; ctx.Err() == nil; round++ {
		n, err := r.relayBatch(ctx, conn.Conn())
		if err != nil {
			return err
		}
		if round%1000 == 0 {
			if _, err := conn.Exec(ctx, `DELETE FROM outbox WHERE sent_at < now() - interval '1 day'`); err != nil {
				return err
			}
		}
		if n == 0 {
			sleep(ctx, r.idle)
		}
	}
	return nil
}

type pending struct {
	id      int64
	eventID string
	subject string
	body    []byte
}

// relayBatch publishes the oldest unsent rows and marks the acknowledged prefix
// sent; a failure part-way leaves the rest for the next round, in order.
func (r *Relay) relayBatch(ctx context.Context, conn *pgx.Conn) (int, error) {
	rows, err := conn.Query(ctx, `SELECT id, event_id::text, subject, event::text FROM outbox
		WHERE sent_at IS NULL ORDER BY id LIMIT $1`, r.batch)
	if err != nil {
		return 0, err
	}
	batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pending, error) {
		var p pending
		var body string
		err := row.Scan(&p.id, &p.eventID, &p.subject, &body)
		p.body = []byte(body)
		return p, err
	})
	if err != nil || len(batch) == 0 {
		return 0, err
	}

	futures := make([]jetstream.PubAckFuture, 0, len(batch))
	var pubErr error
	for _, p := range batch {
		msg := &nats.Msg{Subject: p.subject, Data: p.body, Header: nats.Header{}}
		if ce, err := Parse(p.body); err == nil && ce.TraceParent != "" {
			msg.Header.Set("traceparent", ce.TraceParent)
		}
		f, err := r.js.PublishMsgAsync(msg, jetstream.WithMsgID(p.eventID))
		if err != nil {
			pubErr = err
			break
		}
		futures = append(futures, f)
	}
	acked := make([]int64, 0, len(futures))
	timeout := time.After(10 * time.Second)
wait:
	for i, f := range futures {
		select {
		case <-f.Ok():
			acked = append(acked, batch[i].id)
		case err := <-f.Err():
			pubErr = err
			break wait
		case <-timeout:
			pubErr = errors.New("jetstream acknowledgement timed out")
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	if len(acked) > 0 {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `UPDATE outbox SET sent_at = now() WHERE id = ANY($1)`, acked); err != nil {
			return 0, err
		}
	}
	if pubErr != nil {
		return len(acked), fmt.Errorf("publish: %w", pubErr)
	}
	return len(acked), nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
