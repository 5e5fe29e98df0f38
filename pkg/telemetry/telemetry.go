// Package telemetry sets up the three signals every service emits: JSON logs that
// carry the trace id, OpenTelemetry traces (exported over OTLP when
// OTEL_EXPORTER_OTLP_ENDPOINT is set) with W3C propagation, and metrics exposed in
// Prometheus format from one registry.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"amancair.dev/pkg/config"
)

// Telemetry holds one process's logger, tracer and meter providers.
type Telemetry struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	// Registry is what the ops port serves at /metrics.
	Registry *prometheus.Registry

	shutdown []func(context.Context) error
}

// httpMetricAttributes are the only labels kept on HTTP server metrics: the route
// template, not the raw path or Host header, so a client cannot grow the series count.
var httpMetricAttributes = []attribute.Key{"http.method", "http.route", "http.status_code"}

// Setup reads LOG_LEVEL, OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_PROTOCOL
// ("grpc" or the default "http/protobuf") and builds the providers for service.
func Setup(ctx context.Context, env *config.Env, service, version string, stdout io.Writer) (*Telemetry, error) {
	level := env.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
	endpoint := env.Lookup("OTEL_EXPORTER_OTLP_ENDPOINT")
	protocol := env.OneOf("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "grpc", "http/protobuf")
	if err := env.Err(); err != nil {
		return nil, err
	}

	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	logger := slog.New(traceHandler{slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: lv})}).
		With("service", service)

	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.version", version),
	))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	t := &Telemetry{
		Logger:     logger,
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Registry:   prometheus.NewRegistry(),
	}

	traceOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if endpoint != "" {
		exp, err := newTraceExporter(ctx, protocol)
		if err != nil {
			return nil, err
		}
		traceOpts = append(traceOpts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(traceOpts...)
	t.TracerProvider = tp
	t.shutdown = append(t.shutdown, tp.Shutdown)

	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(t.Registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exporter),
		sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Name: "http.server.*"},
			sdkmetric.Stream{AttributeFilter: attribute.NewAllowKeysFilter(httpMetricAttributes...)},
		)),
	)
	t.MeterProvider = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	return t, nil
}

func newTraceExporter(ctx context.Context, protocol string) (sdktrace.SpanExporter, error) {
	var (
		exp sdktrace.SpanExporter
		err error
	)
	if protocol == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter: %w", err)
	}
	return exp, nil
}

// Shutdown flushes pending spans and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// traceHandler adds trace_id and span_id to every record logged with a context that
// carries a span, so a log line leads to its trace.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

// Discard is a Telemetry for unit tests: logs go nowhere, spans are not exported.
func Discard() *Telemetry {
	t, _ := Setup(context.Background(), config.New(func(string) string { return "" }), "test", "test", io.Discard)
	return t
}
