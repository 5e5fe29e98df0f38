// Package httpapi is identity's public HTTP API: routes, request and response
// shapes, and the mapping of domain errors to problems.
package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/httpserver"
	"amancair.dev/services/identity/internal/identity"
)

// OpenAPI is the document describing exactly the routes below.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Routes lists every route identity serves.
func Routes(app fiber.Router, users *identity.Service) error {
	h := &handler{users: users}
	if err := httpserver.MountDocs(app, "/users", "identity", OpenAPI); err != nil {
		return err
	}
	app.Post("/users", h.register)
	app.Get("/users/:user_id", h.get)
	return nil
}
