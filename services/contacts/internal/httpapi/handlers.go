package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/validation"
	"amancair.dev/services/contacts/internal/contacts"
)

type handler struct{ contacts *contacts.Service }

// contactRequest is the blueprint's emergency contact body.
type contactRequest struct {
	ContactName  *string `json:"contact_name"`
	ContactPhone *string `json:"contact_phone"`
	Relation     *string `json:"relation"`
	IsPrimary    *bool   `json:"is_primary"`
}

type contactResponse struct {
	ID           int64     `json:"id"`
	UserID       int64     `json:"user_id"`
	ContactName  string    `json:"contact_name"`
	ContactPhone string    `json:"contact_phone"`
	Relation     *string   `json:"relation"`
	IsPrimary    bool      `json:"is_primary"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func toResponse(c contacts.Contact) contactResponse {
	r := contactResponse{ID: c.ID, UserID: c.UserID, ContactName: c.Name, ContactPhone: c.Phone,
		IsPrimary: c.IsPrimary, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	if c.Relation != "" {
		r.Relation = &c.Relation
	}
	return r
}

func (h *handler) add(c *fiber.Ctx) error {
	userID, err := httpserver.PathID(c, "user_id")
	if err != nil {
		return err
	}
	var req contactRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	added, err := h.contacts.Add(c.UserContext(), userID, contacts.Input(req))
	if err != nil {
		return err
	}
	c.Location("/emergency/" + strconv.FormatInt(userID, 10) + "/" + strconv.FormatInt(added.ID, 10))
	return httpserver.JSON(c, http.StatusCreated, toResponse(added))
}

func (h *handler) list(c *fiber.Ctx) error {
	userID, err := httpserver.PathID(c, "user_id")
	if err != nil {
		return err
	}
	list, err := h.contacts.List(c.UserContext(), userID)
	if err != nil {
		return err
	}
	out := make([]contactResponse, 0, len(list))
	for _, ct := range list {
		out = append(out, toResponse(ct))
	}
	return httpserver.JSON(c, http.StatusOK, out)
}

// contactPath reads /emergency/{user_id}/{contact_id}.
func contactPath(c *fiber.Ctx) (userID, id int64, err error) {
	if userID, err = httpserver.PathID(c, "user_id"); err != nil {
		return 0, 0, err
	}
	id, err = httpserver.PathID(c, "contact_id")
	return userID, id, err
}

func (h *handler) replace(c *fiber.Ctx) error {
	userID, id, err := contactPath(c)
	if err != nil {
		return err
	}
	var req contactRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	updated, err := h.contacts.Replace(c.UserContext(), userID, id, contacts.Input(req))
	if err != nil {
		return err
	}
	return httpserver.JSON(c, http.StatusOK, toResponse(updated))
}

func (h *handler) remove(c *fiber.Ctx) error {
	userID, id, err := contactPath(c)
	if err != nil {
		return err
	}
	if err := h.contacts.Remove(c.UserContext(), userID, id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// Problems maps the contacts domain's sentinel errors to problems.
func Problems(err error) *httpserver.Problem {
	switch {
	case errors.Is(err, contacts.ErrNotFound):
		return httpserver.NotFound("No such contact for this user.")
	case errors.Is(err, contacts.ErrUnknownUser):
		return httpserver.NotFound("No user with this id.")
	case errors.Is(err, contacts.ErrLimitReached):
		return httpserver.Conflict(fmt.Sprintf("A user may keep at most %d emergency contacts.", contacts.MaxPerUser))
	case errors.Is(err, contacts.ErrDuplicatePhone):
		p := httpserver.Conflict("This phone is already one of the user's emergency contacts.")
		p.Errors = []validation.FieldError{{Field: "contact_phone", Message: "is already listed"}}
		return p
	}
	return nil
}

func (h *handler) export(c *fiber.Ctx) error {
	userID, err := httpserver.PathID(c, "user_id")
	if err != nil {
		return err
	}
	list, err := h.contacts.Export(c.UserContext(), userID)
	if err != nil {
		return err
	}
	out := make([]contactResponse, 0, len(list))
	for _, ct := range list {
		out = append(out, toResponse(ct))
	}
	return httpserver.JSON(c, http.StatusOK, fiber.Map{"emergency_contacts": out})
}
