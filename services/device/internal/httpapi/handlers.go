package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/httpserver"
	"amancair.dev/pkg/pii"
	"amancair.dev/pkg/validation"
	"amancair.dev/services/device/internal/device"
)

type handler struct{ devices *device.Service }

// registerRequest is the blueprint's device body plus the owner's user_id.
type registerRequest struct {
	UserID        *int64  `json:"user_id"`
	IMEI          *string `json:"imei"`
	AndroidID     *string `json:"android_id"`
	AdvertisingID *string `json:"advertising_id"`
	SIMSerial     *string `json:"sim_serial"`
	DeviceModel   *string `json:"device_model"`
	OSVersion     *string `json:"os_version"`
}

// deviceResponse shows a device with every hardware identifier masked.
type deviceResponse struct {
	ID            int64     `json:"id"`
	UserID        int64     `json:"user_id"`
	IMEI          *string   `json:"imei"`
	AndroidID     *string   `json:"android_id"`
	AdvertisingID *string   `json:"advertising_id"`
	SIMSerial     *string   `json:"sim_serial"`
	DeviceModel   *string   `json:"device_model"`
	OSVersion     *string   `json:"os_version"`
	RegisteredAt  time.Time `json:"registered_at"`
}

// masked shows the first 2 and last 3 characters of an identifier; nil when absent.
func masked(s string) *string {
	if s == "" {
		return nil
	}
	m := pii.Mask(s, 2, 3)
	return &m
}

func orNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toResponse(d device.Device) deviceResponse {
	return deviceResponse{
		ID: d.ID, UserID: d.UserID,
		IMEI: masked(d.IMEI), AndroidID: masked(d.AndroidID), AdvertisingID: masked(d.AdvertisingID), SIMSerial: masked(d.SIMSerial),
		DeviceModel: orNil(d.Model), OSVersion: orNil(d.OSVersion), RegisteredAt: d.RegisteredAt.UTC(),
	}
}

func (h *handler) register(c *fiber.Ctx) error {
	var req registerRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	d, created, err := h.devices.Register(c.UserContext(), device.RegistrationInput(req))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return httpserver.JSON(c, status, toResponse(d))
}

func (h *handler) list(c *fiber.Ctx) error {
	caller, _ := auth.CallerFrom(c.UserContext())
	userID := caller.UserID
	if q := c.Query("user_id"); q != "" {
		id, err := strconv.ParseInt(q, 10, 64)
		if err != nil || id <= 0 {
			var errs validation.Errors
			errs.Add("user_id", "must be a positive id")
			return errs
		}
		userID = id
	}
	list, err := h.devices.List(c.UserContext(), userID)
	if err != nil {
		return err
	}
	out := make([]deviceResponse, 0, len(list))
	for _, d := range list {
		out = append(out, toResponse(d))
	}
	return httpserver.JSON(c, http.StatusOK, out)
}

// Problems maps the device domain's sentinel errors to problems.
func Problems(err error) *httpserver.Problem {
	if errors.Is(err, device.ErrUnknownUser) {
		return httpserver.NotFound("No user with this id.")
	}
	if errors.Is(err, device.ErrForbidden) {
		return httpserver.NewProblem(http.StatusForbidden, "You may only register and list your own devices.")
	}
	if errors.Is(err, device.ErrIMEITaken) {
		p := httpserver.Conflict("This IMEI is registered to another user.")
		p.Errors = []validation.FieldError{{Field: "imei", Message: "is registered to another user"}}
		return p
	}
	return nil
}

// exportDevice is a device unmasked, for its owner's data export.
type exportDevice struct {
	ID            int64     `json:"id"`
	IMEI          string    `json:"imei,omitempty"`
	AndroidID     string    `json:"android_id,omitempty"`
	AdvertisingID string    `json:"advertising_id,omitempty"`
	SIMSerial     string    `json:"sim_serial,omitempty"`
	DeviceModel   string    `json:"device_model,omitempty"`
	OSVersion     string    `json:"os_version,omitempty"`
	RegisteredAt  time.Time `json:"registered_at"`
}

func (h *handler) export(c *fiber.Ctx) error {
	userID, err := httpserver.PathID(c, "user_id")
	if err != nil {
		return err
	}
	list, err := h.devices.Export(c.UserContext(), userID)
	if err != nil {
		return err
	}
	out := make([]exportDevice, 0, len(list))
	for _, d := range list {
		out = append(out, exportDevice{ID: d.ID, IMEI: d.IMEI, AndroidID: d.AndroidID, AdvertisingID: d.AdvertisingID,
			SIMSerial: d.SIMSerial, DeviceModel: d.Model, OSVersion: d.OSVersion, RegisteredAt: d.RegisteredAt.UTC()})
	}
	return httpserver.JSON(c, http.StatusOK, fiber.Map{"devices": out})
}
