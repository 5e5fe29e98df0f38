// Package httpapi is identity's public HTTP API: routes, request and response
// shapes, and the mapping of domain errors to problems.
package httpapi

import (
	"context"
	_ "embed"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/httpserver"
	"amancair.dev/services/identity/internal/identity"
)

// OpenAPI is the document describing exactly the routes below.
//
//go:embed openapi.yaml
var OpenAPI []byte

// KeySet serves the public keys that verify access tokens.
type KeySet interface {
	JWKS(ctx context.Context) (auth.JWKS, error)
}

// Routes lists every route identity serves.
func Routes(app fiber.Router, users *identity.Service, login *identity.Login, keys KeySet, verifier *auth.Verifier) error {
	if err := httpserver.MountDocs(app, "/users", "identity", OpenAPI); err != nil {
		return err
	}
	u := &userHandler{users: users}
	a := &authHandler{login: login, keys: keys}
	bearer := verifier.Required()

	app.Post("/users", u.register)
	app.Get("/users/me", bearer, u.me)
	app.Get("/users/:user_id", bearer, u.get)
	app.Patch("/users/:user_id", bearer, u.update)
	app.Delete("/users/:user_id", bearer, u.erase)
	app.Get("/users/:user_id/export", bearer, u.export)

	app.Post("/auth/otp", a.requestCode)
	app.Post("/auth/token", a.token)
	app.Post("/auth/refresh", a.refresh)
	app.Post("/auth/logout", a.logout)
	app.Get("/.well-known/jwks.json", a.jwks)
	return nil
}
