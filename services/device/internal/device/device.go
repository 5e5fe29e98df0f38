// Package device is the domain of the phones AmanCair users register: which
// identifiers a device may carry, how they are validated, and the use cases.
package device

import (
	"context"
	"errors"
	"time"

	"amancair.dev/pkg/auth"
)

// Sentinel errors the use cases return; the HTTP layer maps each to a status.
var (
	// ErrIMEITaken means the IMEI is registered to another user.
	ErrIMEITaken = errors.New("imei registered to another user")
	// ErrForbidden means the caller may not act for that user.
	ErrForbidden = errors.New("not allowed for this user")
	// ErrUnknownUser means staff named a user that does not exist (or was erased).
	ErrUnknownUser = errors.New("unknown user")
)

// Device is a registered phone.
type Device struct {
	ID            int64
	UserID        int64
	IMEI          string
	AndroidID     string
	AdvertisingID string
	SIMSerial     string
	Model         string
	OSVersion     string
	RegisteredAt  time.Time
}

// Repository stores devices; postgres implements it.
type Repository interface {
	// Register stores r unless the user already has a device with one of its
	// identifiers, in which case it returns that device and created = false.
	// It returns ErrIMEITaken when another user holds the IMEI, and
	// ErrUnknownUser when staff act for a user identity does not know.
	Register(ctx context.Context, r Registration) (d Device, created bool, err error)
	// List returns the user's devices, oldest first; a staff read of someone
	// else's is recorded, and ErrUnknownUser returned for an unknown user.
	List(ctx context.Context, userID int64) ([]Device, error)
}

// Service holds the device use cases.
type Service struct{ repo Repository }

// NewService returns the use cases over repo.
func NewService(repo Repository) *Service { return &Service{repo: repo} }

// Register validates in and registers the device for the caller, or — for staff
// only — for the user_id given; registering the same device again for the same
// user is idempotent.
func (s *Service) Register(ctx context.Context, in RegistrationInput) (Device, bool, error) {
	caller, _ := auth.CallerFrom(ctx)
	if in.UserID == nil {
		in.UserID = &caller.UserID
	}
	r, err := in.Validate()
	if err != nil {
		return Device{}, false, err
	}
	if !caller.OwnsOrStaff(r.UserID) {
		return Device{}, false, ErrForbidden
	}
	return s.repo.Register(ctx, r)
}

// List returns userID's devices to that user or to staff.
func (s *Service) List(ctx context.Context, userID int64) ([]Device, error) {
	caller, _ := auth.CallerFrom(ctx)
	if !caller.OwnsOrStaff(userID) {
		return nil, ErrForbidden
	}
	return s.repo.List(ctx, userID)
}

// Export returns all of the caller's own devices, for a data export.
func (s *Service) Export(ctx context.Context, userID int64) ([]Device, error) {
	if caller, _ := auth.CallerFrom(ctx); caller.UserID != userID {
		return nil, ErrForbidden
	}
	return s.repo.List(ctx, userID)
}
