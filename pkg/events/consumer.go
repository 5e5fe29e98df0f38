package events

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one event delivered to a consumer.
type Message struct {
	Event   CloudEvent
	Subject string
	Raw     []byte
}

// Handler processes a batch of events in one go (one database transaction, say)
// and returns nil only once all of them are durably handled; then they are
// acknowledged. On error the batch is redelivered later, so handlers must be
// idempotent by event id.
type Handler func(ctx context.Context, batch []Message) error

// Consumer is a durable JetStream consumer of one stream.
type Consumer struct {
	js      jetstream.JetStream
	stream  jetstream.StreamConfig
	durable string
	filters []string
	logger  *slog.Logger
	prefix  string // "<prefix>." every subject starts with
}

// NewConsumer returns the durable consumer named durable on the stream, for the
// subjects matching filters.
func NewConsumer(nc *nats.Conn, stream jetstream.StreamConfig, durable string, filters []string, logger *slog.Logger) (*Consumer, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	prefix := ""
	if len(stream.Subjects) > 0 {
		prefix = strings.TrimSuffix(stream.Subjects[0], ">")
	}
	return &Consumer{js: js, stream: stream, durable: durable, filters: filters, logger: logger, prefix: prefix}, nil
}

// Run fetches and handles batches until ctx ends, riding out outages.
func (c *Consumer) Run(ctx context.Context, handle Handler) error {
	for ctx.Err() == nil {
		if err := c.consume(ctx, handle); err != nil && ctx.Err() == nil {
			c.logger.Warn("event consumer paused", "consumer", c.durable, "error", err.Error())
			sleep(ctx, time.Second)
		}
	}
	return nil
}

func (c *Consumer) consume(ctx context.Context, handle Handler) error {
	if err := EnsureStream(ctx, c.js, c.stream); err != nil {
		return err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       c.durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       10 * time.Second,
		MaxAckPending: 1000,
		// A batch that keeps failing (its handler's database down, say) is
		// retried for about a day of redeliveries, then given up and logged.
		MaxDeliver:    10000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if len(c.filters) == 1 {
		cfg.FilterSubject = c.filters[0] // understood by servers before 2.10 too
	} else {
		cfg.FilterSubjects = c.filters
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.stream.Name, cfg)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		var msgs []jetstream.Msg
		var events []Message
		for m := range batch.Messages() {
			msgs = append(msgs, m)
			ce, err := Parse(m.Data())
			if err == nil {
				err = ce.Validate(strings.TrimPrefix(m.Subject(), c.prefix))
			}
			if err != nil {
				// A malformed or forged event must not stall the consumer: it is
				// dropped for good, and said so.
				c.logger.Error("invalid event dropped", "subject", m.Subject(), "reason", err.Error())
				_ = m.Term()
				continue
			}
			events = append(events, Message{Event: ce, Subject: m.Subject(), Raw: m.Data()})
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if len(events) == 0 {
			continue
		}
		if err := handle(ctx, events); err != nil {
			for _, m := range msgs {
				_ = m.NakWithDelay(time.Second)
			}
			return err
		}
		for _, m := range msgs {
			if err := m.DoubleAck(ctx); err != nil {
				// Redelivery is harmless: handlers are idempotent by event id.
				c.logger.Warn("ack failed", "error", err.Error())
			}
		}
	}
	return nil
}
