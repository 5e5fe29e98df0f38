// Package httpapi is the device service's public HTTP API: routes, request and
// response shapes, and the mapping of domain errors to problems.
package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/httpserver"
	"amancair.dev/services/device/internal/device"
)

// OpenAPI is the document describing exactly the routes below.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Routes lists every route the device service serves.
func Routes(app fiber.Router, devices *device.Service, verifier *auth.Verifier) error {
	h := &handler{devices: devices}
	if err := httpserver.MountDocs(app, "/devices", "device", OpenAPI); err != nil {
		return err
	}
	bearer := verifier.Required()
	app.Post("/devices", bearer, h.register)
	app.Get("/devices", bearer, h.list)
	// For identity's data export only; the gateway does not route /internal.
	app.Get("/internal/export/:user_id", bearer, h.export)
	return nil
}
