package events_test

import (
	"testing"
	"time"

	"amancair.dev/pkg/events"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	good := events.CloudEvent{SpecVersion: "1.0", ID: "0193a5b2-7c1e-7d4a-9f0e-5b6c7d8e9f01", Source: "/amancair/identity",
		Type: "user.created", Time: time.Now()}
	if err := good.Validate("identity.user.created"); err != nil {
		t.Fatalf("a good event: %v", err)
	}
	tests := map[string]struct {
		mod     func(*events.CloudEvent)
		subject string
	}{
		"id not a uuid":                  {func(e *events.CloudEvent) { e.ID = "'; drop table" }, "identity.user.created"},
		"device speaking for identity":   {func(e *events.CloudEvent) {}, "device.user.created"},
		"type differs from subject":      {func(e *events.CloudEvent) { e.Type = "user.erased" }, "identity.user.created"},
		"foreign source":                 {func(e *events.CloudEvent) { e.Source = "/evil/identity" }, "identity.user.created"},
		"no time":                        {func(e *events.CloudEvent) { e.Time = time.Time{} }, "identity.user.created"},
		"wrong spec version":             {func(e *events.CloudEvent) { e.SpecVersion = "0.3" }, "identity.user.created"},
		"type without entity and action": {func(e *events.CloudEvent) { e.Type = "created" }, "identity.created"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := good
			tt.mod(&e)
			if err := e.Validate(tt.subject); err == nil {
				t.Error("Validate accepted it")
			}
		})
	}
}
