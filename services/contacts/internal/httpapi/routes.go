// Package httpapi is the contacts service's public HTTP API: routes, request and
// response shapes, and the mapping of domain errors to problems.
package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/httpserver"
	"amancair.dev/services/contacts/internal/contacts"
)

// OpenAPI is the document describing exactly the routes below.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Routes lists every route the contacts service serves.
func Routes(app fiber.Router, svc *contacts.Service, verifier *auth.Verifier) error {
	h := &handler{contacts: svc}
	if err := httpserver.MountDocs(app, "/emergency", "contacts", OpenAPI); err != nil {
		return err
	}
	bearer := verifier.Required()
	app.Post("/emergency/:user_id", bearer, h.add)
	app.Get("/emergency/:user_id", bearer, h.list)
	app.Put("/emergency/:user_id/:contact_id", bearer, h.replace)
	app.Delete("/emergency/:user_id/:contact_id", bearer, h.remove)
	// For identity's data export only; the gateway does not route /internal.
	app.Get("/internal/export/:user_id", bearer, h.export)
	return nil
}
