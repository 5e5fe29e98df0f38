package httpapi

import (
	"errors"

	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/validation"
	"amancair.dev/services/identity/internal/identity"
)

// Problems maps identity's sentinel errors to the problems clients see.
func Problems(err error) *httpserver.Problem {
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return httpserver.NotFound("No user with this id.")
	case errors.Is(err, identity.ErrPhoneTaken):
		return conflict("phone")
	case errors.Is(err, identity.ErrEmailTaken):
		return conflict("email")
	case errors.Is(err, identity.ErrNationalIDTaken):
		return conflict("national_id")
	}
	return nil
}

func conflict(field string) *httpserver.Problem {
	p := httpserver.Conflict("A user with this " + field + " is already registered.")
	p.Errors = []validation.FieldError{{Field: field, Message: "is already registered"}}
	return p
}
