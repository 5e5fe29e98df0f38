// Package contacts is the domain of users' emergency contacts: who may be named,
// how many, and which one is primary.
package contacts

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"amancair.dev/pkg/auth"
	"amancair.dev/pkg/phone"
	"amancair.dev/pkg/validation"
)

// MaxPerUser is how many emergency contacts one user may keep.
const MaxPerUser = 5

// Relations a contact may have to the user.
var Relations = []string{"spouse", "parent", "sibling", "child", "relative", "friend", "colleague", "other"}

// Sentinel errors the use cases return; the HTTP layer maps each to a status.
var (
	ErrLimitReached   = errors.New("emergency contact limit reached")
	ErrDuplicatePhone = errors.New("contact phone already listed for this user")
	// ErrNotFound means no such contact, or a user the caller may not act for.
	ErrNotFound = errors.New("contact not found")
	// ErrUnknownUser means staff named a user that does not exist (or was erased).
	ErrUnknownUser = errors.New("unknown user")
)

// Contact is one emergency contact of a user.
type Contact struct {
	ID        int64
	UserID    int64
	Name      string
	Phone     string
	Relation  string
	IsPrimary bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Input is a contact as the client sent it: nil means absent.
type Input struct {
	ContactName  *string
	ContactPhone *string
	Relation     *string
	IsPrimary    *bool
}

// Validate checks every field and returns the normalised contact for userID.
func (in Input) Validate(userID int64) (Contact, error) {
	var errs validation.Errors
	c := Contact{UserID: userID}
	if in.ContactName == nil {
		errs.Add("contact_name", "is required")
	} else {
		name := strings.TrimSpace(*in.ContactName)
		n := utf8.RuneCountInString(name)
		switch {
		case !utf8.ValidString(name) || n == 0 || n > 100:
			errs.Add("contact_name", "must be 1 to 100 characters")
		case strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.IndexFunc(name, unicode.IsLetter) < 0:
			errs.Add("contact_name", "must be a name, without control characters")
		default:
			c.Name = name
		}
	}
	if in.ContactPhone == nil {
		errs.Add("contact_phone", "is required")
	} else if p, err := phone.NormalizeMobile(*in.ContactPhone); err != nil {
		errs.Add("contact_phone", err.Error())
	} else {
		c.Phone = p
	}
	if in.Relation != nil {
		r := strings.ToLower(strings.TrimSpace(*in.Relation))
		known := false
		for _, k := range Relations {
			known = known || r == k
		}
		if known {
			c.Relation = r
		} else {
			errs.Add("relation", "must be one of "+strings.Join(Relations, ", "))
		}
	}
	c.IsPrimary = in.IsPrimary != nil && *in.IsPrimary
	return c, errs.Err()
}

// Repository stores contacts; postgres implements it.
type Repository interface {
	// Add stores c for its user. When c is primary, the user's other contacts stop
	// being primary in the same transaction. It returns ErrLimitReached when the
	// user already has MaxPerUser contacts and ErrDuplicatePhone for a phone already listed.
	Add(ctx context.Context, c Contact) (Contact, error)
	// List returns the user's contacts, primary first, then oldest first.
	List(ctx context.Context, userID int64) ([]Contact, error)
	// Replace overwrites contact c.ID of c.UserID (primary handled as in Add),
	// or returns ErrNotFound or ErrDuplicatePhone.
	Replace(ctx context.Context, c Contact) (Contact, error)
	// Remove deletes contact id of userID, or returns ErrNotFound.
	Remove(ctx context.Context, userID, id int64) error
}

// Service holds the contacts use cases.
type Service struct{ repo Repository }

// NewService returns the use cases over repo.
func NewService(repo Repository) *Service { return &Service{repo: repo} }

// mayActFor reports whether the caller in ctx is userID or staff; to anyone else
// the user's contacts do not exist.
func mayActFor(ctx context.Context, userID int64) error {
	if caller, _ := auth.CallerFrom(ctx); !caller.OwnsOrStaff(userID) {
		return ErrNotFound
	}
	return nil
}

// Add validates in and adds it to userID's contacts.
func (s *Service) Add(ctx context.Context, userID int64, in Input) (Contact, error) {
	if err := mayActFor(ctx, userID); err != nil {
		return Contact{}, err
	}
	c, err := in.Validate(userID)
	if err != nil {
		return Contact{}, err
	}
	return s.repo.Add(ctx, c)
}

// List returns userID's contacts, primary first.
func (s *Service) List(ctx context.Context, userID int64) ([]Contact, error) {
	if err := mayActFor(ctx, userID); err != nil {
		return nil, err
	}
	return s.repo.List(ctx, userID)
}

// Replace overwrites contact id of userID with in.
func (s *Service) Replace(ctx context.Context, userID, id int64, in Input) (Contact, error) {
	if err := mayActFor(ctx, userID); err != nil {
		return Contact{}, err
	}
	c, err := in.Validate(userID)
	if err != nil {
		return Contact{}, err
	}
	c.ID = id
	return s.repo.Replace(ctx, c)
}

// Remove deletes contact id of userID.
func (s *Service) Remove(ctx context.Context, userID, id int64) error {
	if err := mayActFor(ctx, userID); err != nil {
		return err
	}
	return s.repo.Remove(ctx, userID, id)
}

// Export returns all of the caller's own contacts, for a data export.
func (s *Service) Export(ctx context.Context, userID int64) ([]Contact, error) {
	if caller, _ := auth.CallerFrom(ctx); caller.UserID != userID {
		return nil, ErrNotFound
	}
	return s.repo.List(ctx, userID)
}
