// Package httpapi is the audit service's public HTTP API, for staff reading the
// audit trail.
package httpapi

import (
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/validation"
	"amancair.dev/services/audit/internal/audit"
)

// OpenAPI is the document describing exactly the routes below.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Routes lists every route the audit service serves.
func Routes(app fiber.Router, trail *audit.Service, verifier *auth.Verifier) error {
	if err := httpserver.MountDocs(app, "/audit", "audit", OpenAPI); err != nil {
		return err
	}
	h := &handler{trail: trail}
	bearer := verifier.Required()
	app.Get("/audit/events", bearer, h.events)
	app.Get("/audit/verify", bearer, h.verify)
	return nil
}

type handler struct{ trail *audit.Service }

// entryResponse is an entry with its hashes in hex.
type entryResponse struct {
	audit.Entry
	Hash     string `json:"hash"`
	PrevHash string `json:"prev_hash"`
}

type page struct {
	Items      []entryResponse `json:"items"`
	NextCursor *string         `json:"next_cursor"`
}

func (h *handler) events(c *fiber.Ctx) error {
	f, err := parseFilter(c)
	if err != nil {
		return err
	}
	list, err := h.trail.Events(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := page{Items: make([]entryResponse, 0, len(list))}
	for _, e := range list {
		out.Items = append(out.Items, entryResponse{Entry: e, Hash: hex.EncodeToString(e.Hash), PrevHash: hex.EncodeToString(e.PrevHash)})
	}
	if len(list) == f.Limit && len(list) > 0 {
		next := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(list[len(list)-1].Seq, 10)))
		out.NextCursor = &next
	}
	return httpserver.JSON(c, http.StatusOK, out)
}

func (h *handler) verify(c *fiber.Ctx) error {
	v, err := h.trail.Verify(c.UserContext())
	if err != nil {
		return err
	}
	return httpserver.JSON(c, http.StatusOK, v)
}

// parseFilter reads the query; every bad parameter is reported at once.
func parseFilter(c *fiber.Ctx) (audit.Filter, error) {
	var errs validation.Errors
	f := audit.Filter{Limit: 50, Type: c.Query("type")}
	id := func(name string) int64 {
		v := c.Query(name)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs.Add(name, "must be a positive id")
		}
		return n
	}
	when := func(name string) time.Time {
		v := c.Query(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs.Add(name, "must be an RFC 3339 time, e.g. 2026-11-26T00:00:00Z")
		}
		return t
	}
	f.SubjectUserID, f.ActorID = id("subject_user_id"), id("actor_id")
	f.Since, f.Until = when("since"), when("until")
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			errs.Add("limit", "must be a whole number from 1 to 200")
		} else {
			f.Limit = n
		}
	}
	if v := c.Query("cursor"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		seq, perr := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || perr != nil || seq <= 0 {
			errs.Add("cursor", "is not a cursor this API returned")
		}
		f.Before = seq
	}
	return f, errs.Err()
}

// Problems maps the audit domain's errors to problems.
func Problems(err error) *httpserver.Problem {
	if errors.Is(err, audit.ErrForbidden) {
		return httpserver.NewProblem(http.StatusForbidden, "The audit trail is for auditors and admins.")
	}
	return nil
}
