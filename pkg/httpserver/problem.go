package httpserver

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/validation"
)

// ProblemBase prefixes every problem type URI.
const ProblemBase = "https://amancair.dev/problems/"

// ContentTypeProblem is RFC 9457's media type.
const ContentTypeProblem = "application/problem+json"

// Problem is an RFC 9457 problem details object. It is an error, so handlers and
// use cases may return one; the error handler writes it as it is.
type Problem struct {
	Type     string                  `json:"type"`
	Title    string                  `json:"title"`
	Status   int                     `json:"status"`
	Detail   string                  `json:"detail,omitempty"`
	Instance string                  `json:"instance,omitempty"`
	Errors   []validation.FieldError `json:"errors,omitempty"`

	// RetryAfter, in seconds, is sent as the Retry-After header when positive.
	RetryAfter int `json:"-"`
}

func (p *Problem) Error() string { return strconv.Itoa(p.Status) + " " + p.Title + ": " + p.Detail }

// problemTypes gives each status this API uses a stable type slug and title.
var problemTypes = map[int][2]string{
	http.StatusBadRequest:            {"malformed-request", "Malformed request"},
	http.StatusUnauthorized:          {"unauthorized", "Authentication required"},
	http.StatusForbidden:             {"forbidden", "Not allowed"},
	http.StatusNotFound:              {"not-found", "Resource not found"},
	http.StatusMethodNotAllowed:      {"method-not-allowed", "Method not allowed"},
	http.StatusConflict:              {"conflict", "Conflict with the current state"},
	http.StatusRequestEntityTooLarge: {"payload-too-large", "Request body too large"},
	http.StatusUnsupportedMediaType:  {"unsupported-media-type", "Unsupported media type"},
	http.StatusUnprocessableEntity:   {"validation", "Request validation failed"},
	http.StatusTooManyRequests:       {"rate-limited", "Too many requests"},
	http.StatusInternalServerError:   {"internal", "Internal error"},
	http.StatusServiceUnavailable:    {"unavailable", "Service temporarily unavailable"},
}

// NewProblem returns the problem for status with a detail for the client. Statuses
// outside the catalogue become 500.
func NewProblem(status int, detail string) *Problem {
	t, ok := problemTypes[status]
	if !ok {
		status, t = http.StatusInternalServerError, problemTypes[http.StatusInternalServerError]
	}
	return &Problem{Type: ProblemBase + t[0], Title: t[1], Status: status, Detail: detail}
}

// NotFound is the problem for an unknown or hidden resource.
func NotFound(detail string) *Problem { return NewProblem(http.StatusNotFound, detail) }

// Conflict is the problem for a uniqueness or state conflict.
func Conflict(detail string) *Problem { return NewProblem(http.StatusConflict, detail) }

// Mapper translates a service's own errors (its domain sentinels) into problems;
// it returns nil for errors it does not know.
type Mapper func(error) *Problem

// retryAfterUnavailable is how long clients are asked to wait when a dependency is down.
const retryAfterUnavailable = 5

// toProblem is the one translation from any error to the problem the client sees.
// Unknown errors become a 500 that says nothing of the cause.
func (s *server) toProblem(err error) (p *Problem, internal bool) {
	var prob *Problem
	var verrs validation.Errors
	var ferr *fiber.Error
	switch {
	case errors.As(err, &prob):
		cp := *prob
		return &cp, false
	case errors.As(err, &verrs):
		p = NewProblem(http.StatusUnprocessableEntity, verrs.Error())
		p.Errors = verrs
		return p, false
	case errors.As(err, &ferr):
		return fiberProblem(ferr), ferr.Code >= 500
	}
	if s.mapper != nil {
		if p := s.mapper(err); p != nil {
			return p, false
		}
	}
	for _, unavailable := range s.unavailable {
		if unavailable(err) {
			p = NewProblem(http.StatusServiceUnavailable, "A service this request depends on is unavailable; try again shortly.")
			p.RetryAfter = retryAfterUnavailable
			return p, true
		}
	}
	return NewProblem(http.StatusInternalServerError, "The request could not be completed."), true
}

// fiberProblem words Fiber's own errors (routing, body limit) for clients.
func fiberProblem(e *fiber.Error) *Problem {
	switch e.Code {
	case http.StatusNotFound:
		return NotFound("No resource at this path.")
	case http.StatusMethodNotAllowed:
		return NewProblem(e.Code, "This method is not allowed on this path.")
	case http.StatusRequestEntityTooLarge:
		return NewProblem(e.Code, "The request body is larger than 64 KiB.")
	case http.StatusBadRequest:
		return NewProblem(e.Code, "The request could not be read.")
	case http.StatusUnsupportedMediaType:
		return NewProblem(e.Code, "Send the body as application/json.")
	}
	if e.Code >= 500 {
		return NewProblem(http.StatusInternalServerError, "The request could not be completed.")
	}
	return NewProblem(e.Code, "")
}

// errorHandler writes every error as problem+json: the single place where errors
// become responses.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	p, internal := s.toProblem(err)
	if internal {
		s.logger.ErrorContext(c.UserContext(), "request failed",
			"method", c.Method(), "route", c.Route().Path, "status", p.Status, "error", err.Error())
	}
	p.Instance = c.Path()
	if p.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(p.RetryAfter))
	}
	if p.Status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, "Bearer")
	}
	return c.Status(p.Status).JSON(p, ContentTypeProblem)
}
