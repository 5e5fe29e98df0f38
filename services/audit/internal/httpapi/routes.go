// Package httpapi is the audit service's public HTTP API, for staff reading the
// audit trail.
package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/httpserver"
)

// OpenAPI is the document describing exactly the routes below.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Routes lists every route the audit service serves. The trail's own routes
// (/audit/events, /audit/verify) arrive with the event consumer that fills it.
func Routes(app fiber.Router) error {
	return httpserver.MountDocs(app, "/audit", "audit", OpenAPI)
}
