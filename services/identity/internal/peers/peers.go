// Package peers asks the other services for what they hold about a user, on the
// user's own behalf (their bearer token), for a data export. The services answer
// on /internal/export/{user_id}, which the gateway does not route.
package peers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"amancair.dev/pkg/auth"
)

// Peers implements identity.Peers over HTTP.
type Peers struct {
	client *http.Client
	urls   map[string]string // name in the export → service base URL
}

// New returns peers at the given base URLs (e.g. {"device": "http://device:8080"}),
// traced and with the trace propagated.
func New(urls map[string]string, tp trace.TracerProvider, prop propagation.TextMapPropagator) *Peers {
	transport := otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop))
	return &Peers{client: &http.Client{Timeout: 5 * time.Second, Transport: transport}, urls: urls}
}

// ErrUnavailable means a peer could not answer; nothing can be exported now.
var ErrUnavailable = errors.New("a service holding the user's data is unavailable")

// Export returns each peer's export document under its name.
func (p *Peers) Export(ctx context.Context, userID int64) (map[string]any, error) {
	out := map[string]any{}
	for name, base := range p.urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/internal/export/"+strconv.FormatInt(userID, 10), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+auth.TokenFrom(ctx))
		resp, err := p.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%w: %s answered %d", ErrUnavailable, name, resp.StatusCode)
		}
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("%s export: %w", name, err)
		}
		out[name] = doc
	}
	return out, nil
}
