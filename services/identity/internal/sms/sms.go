// Package sms hands messages to the SMS gateway over core NATS. Nothing is stored
// in a stream: a login code lives only in the gateway's memory and the user's phone.
package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// Subject is where the SMS gateway listens.
const Subject = "notifications.sms"

// Publisher publishes SMS requests.
type Publisher struct {
	nc         *nats.Conn
	subject    string
	propagator propagation.TextMapPropagator
}

// NewPublisher returns a publisher on subject (Subject unless testing).
func NewPublisher(nc *nats.Conn, subject string, propagator propagation.TextMapPropagator) *Publisher {
	return &Publisher{nc: nc, subject: subject, propagator: propagator}
}

type message struct {
	To       string         `json:"to"`
	Template string         `json:"template"`
	Params   map[string]any `json:"params"`
}

// SendLoginCode asks for the otp_login template to be sent to phone.
func (p *Publisher) SendLoginCode(ctx context.Context, phone, code string, ttl time.Duration) error {
	body, err := json.Marshal(message{To: phone, Template: "otp_login",
		Params: map[string]any{"code": code, "ttl_seconds": int(ttl.Seconds())}})
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: p.subject, Data: body, Header: nats.Header{}}
	p.propagator.Inject(ctx, propagation.HeaderCarrier(msg.Header))
	if err := p.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("publish sms: %w", err)
	}
	return nil
}
