package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/pii"
	"amancair.dev/services/identity/internal/identity"
)

type userHandler struct{ users *identity.Service }

// registerRequest is the body of POST /users/. Fields the client must not set
// (id, roles, phone_verified, …) are simply not here.
type registerRequest struct {
	Name       *string `json:"name"`
	Phone      *string `json:"phone"`
	Email      *string `json:"email"`
	DOB        *string `json:"dob"`
	Gender     *string `json:"gender"`
	NationalID *string `json:"national_id"`
}

// userResponse is a user as the API shows it: the NIK masked, dates as strings.
type userResponse struct {
	ID            int64     `json:"id"`
	Name          string    `json:"name"`
	Phone         string    `json:"phone"`
	Email         string    `json:"email"`
	DOB           *string   `json:"dob"`
	Gender        *string   `json:"gender"`
	NationalID    *string   `json:"national_id"`
	PhoneVerified bool      `json:"phone_verified"`
	Roles         []string  `json:"roles"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func toResponse(u identity.User) userResponse {
	r := userResponse{
		ID: u.ID, Name: u.Name, Phone: u.Phone, Email: u.Email,
		PhoneVerified: u.PhoneVerified, Roles: u.Roles,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
	if u.DOB != nil {
		d := u.DOB.Format(time.DateOnly)
		r.DOB = &d
	}
	if u.Gender != "" {
		r.Gender = &u.Gender
	}
	if u.NationalID != "" {
		masked := pii.Mask(u.NationalID, 4, 2)
		r.NationalID = &masked
	}
	return r
}

func (h *userHandler) register(c *fiber.Ctx) error {
	var req registerRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	user, err := h.users.Register(c.UserContext(), identity.RegistrationInput(req))
	if err != nil {
		return err
	}
	c.Location("/users/" + strconv.FormatInt(user.ID, 10))
	return httpserver.JSON(c, http.StatusCreated, toResponse(user))
}

func (h *userHandler) get(c *fiber.Ctx) error {
	id, err := httpserver.PathID(c, "user_id")
	if err != nil {
		return err
	}
	user, err := h.users.User(c.UserContext(), id)
	if err != nil {
		return err
	}
	return httpserver.JSON(c, http.StatusOK, toResponse(user))
}

func (h *userHandler) me(c *fiber.Ctx) error {
	user, err := h.users.Me(c.UserContext())
	if err != nil {
		return err
	}
	return httpserver.JSON(c, http.StatusOK, toResponse(user))
}

// updateRequest holds the profile fields a PATCH may change; nothing else in the
// body (roles, phone, phone_verified, id, …) is read.
type updateRequest struct {
	Name       *string `json:"name"`
	Email      *string `json:"email"`
	DOB        *string `json:"dob"`
	Gender     *string `json:"gender"`
	NationalID *string `json:"national_id"`
}

func (h *userHandler) update(c *fiber.Ctx) error {
	id, err := httpserver.PathID(c, "user_id")
	if err != nil {
		return err
	}
	var req updateRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	user, err := h.users.Update(c.UserContext(), id, identity.UpdateInput(req))
	if err != nil {
		return err
	}
	return httpserver.JSON(c, http.StatusOK, toResponse(user))
}

func (h *userHandler) erase(c *fiber.Ctx) error {
	id, err := httpserver.PathID(c, "user_id")
	if err != nil {
		return err
	}
	if err := h.users.Erase(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// exportResponse is one person's data from every service, decrypted.
type exportResponse struct {
	ExportedAt time.Time      `json:"exported_at"`
	User       exportUser     `json:"user"`
	Services   map[string]any `json:"services"`
}

// exportUser is the user unmasked: the export is for its owner.
type exportUser struct {
	userResponse
	NationalID *string `json:"national_id"`
}

func (h *userHandler) export(c *fiber.Ctx) error {
	id, err := httpserver.PathID(c, "user_id")
	if err != nil {
		return err
	}
	ex, err := h.users.Export(c.UserContext(), id)
	if err != nil {
		return err
	}
	u := exportUser{userResponse: toResponse(ex.User)}
	if ex.User.NationalID != "" {
		u.NationalID = &ex.User.NationalID
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="amancair-export.json"`)
	return httpserver.JSON(c, http.StatusOK, exportResponse{ExportedAt: time.Now().UTC(), User: u, Services: ex.Services})
}
