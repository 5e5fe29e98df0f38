package events

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"amancair.dev/pkg/auth"
)

// Event is a state change (or a staff read) a use case reports. It carries ids and
// the names of changed fields, never personal data.
type Event struct {
	// Type is "<entity>.<action>", e.g. "user.created"; see docs/events.md.
	Type string
	// SubjectUserID is the person the event is about; 0 when unknown.
	SubjectUserID int64
	// Fields names the fields that changed.
	Fields []string
	// Refs holds other ids, e.g. {"device_id": 7}.
	Refs map[string]int64
	// Attrs holds other non-personal values, e.g. {"role": "ops"}.
	Attrs map[string]string
}

// CloudEvent is the JSON envelope (CloudEvents 1.0) every event travels in.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	// TraceParent is the CloudEvents distributed-tracing extension.
	TraceParent string `json:"traceparent,omitempty"`
	Data        Data   `json:"data"`
}

// Data is an event's payload: who did what to whom, by id only.
type Data struct {
	SubjectUserID *int64            `json:"subject_user_id"`
	ActorID       *int64            `json:"actor_id"`
	ActorRoles    []string          `json:"actor_roles"`
	ClientIP      string            `json:"client_ip,omitempty"`
	Fields        []string          `json:"fields,omitempty"`
	Refs          map[string]int64  `json:"refs,omitempty"`
	Attrs         map[string]string `json:"attrs,omitempty"`
}

// Service returns the emitting service, from the source "/amancair/<service>".
func (e CloudEvent) Service() string { return strings.TrimPrefix(e.Source, "/amancair/") }

// TraceID returns the W3C trace id in TraceParent, or "".
func (e CloudEvent) TraceID() string {
	parts := strings.Split(e.TraceParent, "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}

// envelope wraps ev as a CloudEvent from service, with the actor, client IP and
// trace taken from ctx.
func envelope(ctx context.Context, service string, ev Event, now time.Time) (CloudEvent, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return CloudEvent{}, err
	}
	ce := CloudEvent{
		SpecVersion: "1.0", ID: id.String(), Source: "/amancair/" + service, Type: ev.Type,
		Time: now.UTC(), DataContentType: "application/json",
		Data: Data{ActorRoles: []string{}, Fields: ev.Fields, Refs: ev.Refs, Attrs: ev.Attrs, ClientIP: auth.ClientIPFrom(ctx)},
	}
	if ev.SubjectUserID > 0 {
		s := ev.SubjectUserID
		ce.Data.SubjectUserID = &s
		ce.Subject = "users/" + itoa(s)
	}
	if c, ok := auth.CallerFrom(ctx); ok {
		a := c.UserID
		ce.Data.ActorID, ce.Data.ActorRoles = &a, c.Roles
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		ce.TraceParent = "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
	}
	return ce, nil
}

// Parse decodes a CloudEvent from a message body.
func Parse(data []byte) (CloudEvent, error) {
	var ce CloudEvent
	err := json.Unmarshal(data, &ce)
	return ce, err
}

// Validate checks what consumers rely on before an event reaches a database: a
// UUID id, a "<entity>.<action>" type, an AmanCair source, a time, and — given the
// subject it arrived on, without the prefix ("<service>.<entity>.<action>") — that
// the source is the service the subject names, so one cannot speak for another.
func (e CloudEvent) Validate(subject string) error {
	if e.SpecVersion != "1.0" {
		return errors.New("not a CloudEvents 1.0 event")
	}
	if _, err := uuid.Parse(e.ID); err != nil {
		return errors.New("event id is not a UUID")
	}
	if strings.Count(e.Type, ".") != 1 || len(e.Type) > 64 {
		return errors.New("event type is not <entity>.<action>")
	}
	if !strings.HasPrefix(e.Source, "/amancair/") || e.Time.IsZero() {
		return errors.New("event source or time missing")
	}
	parts := strings.SplitN(subject, ".", 2)
	if len(parts) != 2 || parts[0] != e.Service() || parts[1] != e.Type {
		return errors.New("event subject does not match its source and type")
	}
	return nil
}
