// Package httpserver builds the Fiber app every AmanCair service serves its public
// API from, and the separate operations listener for metrics and probes.
package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/otelfiber/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"amancair.dev/pkg/telemetry"
)

// BodyLimit is the largest request body any endpoint accepts.
const BodyLimit = 64 * 1024

// HeaderRequestID carries the request id set by the gateway (or made here).
const HeaderRequestID = "X-Request-Id"

// Check is one readiness probe of a dependency; it returns nil when the dependency
// can serve.
type Check func(ctx context.Context) error

// Config is what New needs from the service.
type Config struct {
	Service   string
	Telemetry *telemetry.Telemetry
	// Mapper translates the service's domain errors to problems.
	Mapper Mapper
	// Unavailable classifies errors that mean a dependency is down (503).
	Unavailable []func(error) bool
	// Checks are run by /readyz, by name.
	Checks map[string]Check
	// TrustedProxies (IPs or CIDRs) may tell the client's address in
	// X-Forwarded-For; ClientIP believes no one else.
	TrustedProxies []string
}

type server struct {
	logger      *slog.Logger
	mapper      Mapper
	unavailable []func(error) bool
}

// Server is a service's public Fiber app plus its readiness state.
type Server struct {
	App      *fiber.App
	checks   map[string]Check
	draining atomic.Bool
	logger   *slog.Logger
	tel      *telemetry.Telemetry
}

// New returns the app with request ids, panic recovery, tracing, access logs, the
// 64 KiB body limit, the problem+json error handler and /healthz and /readyz;
// the service adds its routes to App.
func New(cfg Config) *Server {
	s := &server{logger: cfg.Telemetry.Logger, mapper: cfg.Mapper, unavailable: cfg.Unavailable}
	app := fiber.New(fiber.Config{
		AppName:               cfg.Service,
		BodyLimit:             BodyLimit,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           75 * time.Second,
		ReadBufferSize:        8192,
		// Only the gateway's X-Forwarded-For is believed.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          cfg.TrustedProxies,
		ProxyHeader:             fiber.HeaderXForwardedFor,
	})
	srv := &Server{App: app, checks: cfg.Checks, logger: cfg.Telemetry.Logger, tel: cfg.Telemetry}

	app.Use(recover.New())
	app.Use(requestid.New(requestid.Config{Header: HeaderRequestID}))
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		status, body := srv.readiness(c.UserContext())
		return c.Status(status).JSON(body)
	})
	app.Use(otelfiber.Middleware(
		otelfiber.WithTracerProvider(cfg.Telemetry.TracerProvider),
		otelfiber.WithMeterProvider(cfg.Telemetry.MeterProvider),
		otelfiber.WithPropagators(cfg.Telemetry.Propagator),
		otelfiber.WithCollectClientIP(false),
		otelfiber.WithNext(func(c *fiber.Ctx) bool { return c.Path() == "/healthz" || c.Path() == "/readyz" }),
	))
	app.Use(srv.accessLog)
	return srv
}

// accessLog logs one line per request, after the error handler has set the final
// status. It logs the route template and ids, never bodies or query values.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "no-store")
	if err := c.Next(); err != nil {
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			return herr
		}
	}
	s.logger.InfoContext(c.UserContext(), "request",
		"method", c.Method(),
		"route", c.Route().Path,
		"status", c.Response().StatusCode(),
		"duration_ms", float64(time.Since(start).Microseconds())/1000,
		"request_id", c.GetRespHeader(HeaderRequestID),
	)
	return nil
}

// readiness runs every check with a short deadline. The body names each dependency
// and whether it is up, without error text that could leak internals.
func (s *Server) readiness(ctx context.Context) (int, map[string]any) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	status, results := http.StatusOK, map[string]string{}
	for name, check := range s.checks {
		if err := check(ctx); err != nil {
			s.logger.WarnContext(ctx, "dependency not ready", "dependency", name, "error", err.Error())
			status, results[name] = http.StatusServiceUnavailable, "unavailable"
			continue
		}
		results[name] = "ok"
	}
	if s.draining.Load() {
		status = http.StatusServiceUnavailable
	}
	word := "ready"
	if status != http.StatusOK {
		word = "not ready"
	}
	return status, map[string]any{"status": word, "checks": results}
}

// Serve runs the public app on addr and the ops listener (metrics and probes) on
// opsAddr until ctx ends, then stops taking requests (readiness turns 503 first so
// load balancers move away) and waits up to grace for those in flight.
func (s *Server) Serve(ctx context.Context, addr, opsAddr string, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	opsLn, err := net.Listen("tcp", opsAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen %s: %w", opsAddr, err)
	}
	ops := &http.Server{Handler: s.opsHandler(), ReadHeaderTimeout: 5 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- s.App.Listener(ln) }()
	go func() {
		if err := ops.Serve(opsLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	s.logger.Info("listening", "addr", ln.Addr().String(), "ops_addr", opsLn.Addr().String())

	select {
	case err := <-errc:
		ops.Close()
		_ = s.App.Shutdown()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.logger.Info("shutting down", "grace", grace.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	appErr := s.App.ShutdownWithContext(shutdownCtx)
	opsErr := ops.Shutdown(shutdownCtx)
	return errors.Join(appErr, opsErr)
}

// opsHandler serves /metrics, /healthz and /readyz for Prometheus and kubelet; it
// is never routed through the gateway.
func (s *Server) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.tel.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, body := s.readiness(r.Context())
		writeJSON(w, status, body)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// JSON writes v with the contract's content type.
func JSON(c *fiber.Ctx, status int, v any) error {
	return c.Status(status).JSON(v, "application/json; charset=utf-8")
}

// ClientIP is the address of the client: the last X-Forwarded-For entry (the one
// the gateway added) when the peer is a trusted proxy, else the peer itself.
func ClientIP(c *fiber.Ctx) string {
	ip := c.IP()
	if i := strings.LastIndexByte(ip, ','); i >= 0 {
		ip = ip[i+1:]
	}
	return strings.TrimSpace(ip)
}
