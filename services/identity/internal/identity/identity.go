// Package identity is the domain of AmanCair's users: who they are, how their
// registration is validated and normalised, who may see or change them, and how
// they log in. It knows nothing of HTTP or SQL; it declares the ports it needs.
package identity

import (
	"context"
	"errors"
	"time"

	"amancair.dev/pkg/auth"
)

// Gender values the API accepts.
const (
	GenderMale   = "male"
	GenderFemale = "female"
)

// Roles a user may be granted.
var Roles = []string{auth.RoleCustomer, auth.RoleOps, auth.RoleAdmin, auth.RoleAuditor}

// Sentinel errors the use cases return; the HTTP layer maps each to a status.
var (
	ErrNotFound        = errors.New("user not found")
	ErrPhoneTaken      = errors.New("phone already registered")
	ErrEmailTaken      = errors.New("email already registered")
	ErrNationalIDTaken = errors.New("national id already registered")
	// ErrUnknownCaller means a valid token names a user that no longer exists.
	ErrUnknownCaller = errors.New("token of an unknown user")
)

// User is a registered person.
type User struct {
	ID            int64
	Name          string
	Phone         string
	Email         string
	DOB           *time.Time
	Gender        string
	NationalID    string
	PhoneVerified bool
	Roles         []string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Repository stores users; postgres implements it. Reads and updates see only
// what the caller in ctx may see.
type Repository interface {
	// Create stores a new customer and returns it, or ErrPhoneTaken, ErrEmailTaken
	// or ErrNationalIDTaken.
	Create(ctx context.Context, r Registration) (User, error)
	// Get returns the user with id, or ErrNotFound.
	Get(ctx context.Context, id int64) (User, error)
	// Update loads user id, applies change and stores the result in one
	// transaction; ErrNotFound, or a conflict error like Create's.
	Update(ctx context.Context, id int64, change func(User) (User, error)) (User, error)
	// Erase destroys user id's data key and login, keeping only the fact; or
	// ErrNotFound.
	Erase(ctx context.Context, id int64) error
	// Exported records that the user's data was exported.
	Exported(ctx context.Context, id int64) error
}

// Peers hand over what the other services hold about a user, for an export.
type Peers interface {
	Export(ctx context.Context, userID int64) (map[string]any, error)
}

// Export is everything the platform holds about one person.
type Export struct {
	User     User
	Services map[string]any
}

// Service holds the user use cases.
type Service struct {
	repo     Repository
	peers    Peers
	throttle *Throttle
	// Registrations limits registrations per client IP: each answers whether a
	// phone, email or NIK is taken, which must not be checkable in bulk.
	Registrations Limit
	now           func() time.Time
}

// NewService returns the use cases over repo and peers, limiting registrations
// with throttle; now is the clock validation uses.
func NewService(repo Repository, peers Peers, throttle *Throttle, now func() time.Time) *Service {
	return &Service{repo: repo, peers: peers, throttle: throttle, Registrations: Limit{20, 10 * time.Minute}, now: now}
}

// Erase is the right to be forgotten: the owner or an admin erases user id.
func (s *Service) Erase(ctx context.Context, id int64) error {
	caller, _ := auth.CallerFrom(ctx)
	if caller.UserID != id && !caller.Has(auth.RoleAdmin) {
		return ErrNotFound
	}
	return s.repo.Erase(ctx, id)
}

// Export gathers everything the platform holds about user id, decrypted, for
// its owner.
func (s *Service) Export(ctx context.Context, id int64) (Export, error) {
	caller, _ := auth.CallerFrom(ctx)
	if caller.UserID != id {
		return Export{}, ErrNotFound
	}
	u, err := s.repo.Get(ctx, id)
	if err != nil {
		return Export{}, err
	}
	others, err := s.peers.Export(ctx, id)
	if err != nil {
		return Export{}, err
	}
	if err := s.repo.Exported(ctx, id); err != nil {
		return Export{}, err
	}
	return Export{User: u, Services: others}, nil
}

// Register validates in and creates the user. Anyone may register, a limited
// number of times per client IP.
func (s *Service) Register(ctx context.Context, in RegistrationInput) (User, error) {
	r, err := in.Validate(s.now())
	if err != nil {
		return User{}, err
	}
	if err := s.throttle.Check(ctx, "register-ip", auth.ClientIPFrom(ctx), s.Registrations); err != nil {
		return User{}, err
	}
	return s.repo.Create(ctx, r)
}

// User returns user id to its owner or to staff; to anyone else it does not exist.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	caller, _ := auth.CallerFrom(ctx)
	if !caller.OwnsOrStaff(id) {
		return User{}, ErrNotFound
	}
	return s.repo.Get(ctx, id)
}

// Me returns the caller's own user; ErrUnknownCaller when it no longer exists.
func (s *Service) Me(ctx context.Context) (User, error) {
	caller, _ := auth.CallerFrom(ctx)
	u, err := s.repo.Get(ctx, caller.UserID)
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrUnknownCaller
	}
	return u, err
}

// Update changes user id's profile fields; only its owner or an admin may.
func (s *Service) Update(ctx context.Context, id int64, in UpdateInput) (User, error) {
	caller, _ := auth.CallerFrom(ctx)
	if caller.UserID != id && !caller.Has(auth.RoleAdmin) {
		return User{}, ErrNotFound
	}
	return s.repo.Update(ctx, id, func(u User) (User, error) {
		return in.Apply(u, s.now())
	})
}
