package httpapi

import (
	"errors"
	"net/http"

	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/validation"
	"amancair.dev/services/identity/internal/identity"
	"amancair.dev/services/identity/internal/peers"
)

// Problems maps identity's sentinel errors to the problems clients see.
func Problems(err error) *httpserver.Problem {
	var limited *identity.RateLimitedError
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return httpserver.NotFound("No user with this id.")
	case errors.Is(err, identity.ErrUnknownCaller):
		return httpserver.NewProblem(http.StatusUnauthorized, "The access token's user no longer exists.")
	case errors.Is(err, identity.ErrPhoneTaken):
		return conflict("phone")
	case errors.Is(err, identity.ErrEmailTaken):
		return conflict("email")
	case errors.Is(err, identity.ErrNationalIDTaken):
		return conflict("national_id")
	case errors.Is(err, identity.ErrInvalidCode):
		return httpserver.NewProblem(http.StatusUnauthorized, "The code is wrong, expired or used up; request a new one.")
	case errors.Is(err, identity.ErrInvalidRefresh), errors.Is(err, identity.ErrRefreshReused):
		return httpserver.NewProblem(http.StatusUnauthorized, "The refresh token is invalid; log in again.")
	case errors.Is(err, peers.ErrUnavailable):
		p := httpserver.NewProblem(http.StatusServiceUnavailable, "A service holding your data is unavailable; try again shortly.")
		p.RetryAfter = 5
		return p
	case errors.As(err, &limited):
		p := httpserver.NewProblem(http.StatusTooManyRequests, "Too many attempts; try again later.")
		p.RetryAfter = max(1, int(limited.RetryAfter.Seconds()))
		return p
	}
	return nil
}

func conflict(field string) *httpserver.Problem {
	p := httpserver.Conflict("A user with this " + field + " is already registered.")
	p.Errors = []validation.FieldError{{Field: field, Message: "is already registered"}}
	return p
}
