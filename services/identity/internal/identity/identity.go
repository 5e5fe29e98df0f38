// Package identity is the domain of AmanCair's users: who they are, how their
// registration is validated and normalised, and the use cases on them. It knows
// nothing of HTTP or SQL; it declares the repository it needs.
package identity

import (
	"context"
	"errors"
	"time"
)

// Roles a user may hold. Every registered user is a customer.
const (
	RoleCustomer = "customer"
	RoleOps      = "ops"
	RoleAdmin    = "admin"
	RoleAuditor  = "auditor"
)

// Gender values the API accepts.
const (
	GenderMale   = "male"
	GenderFemale = "female"
)

// Sentinel errors the use cases return; the HTTP layer maps each to a status.
var (
	ErrNotFound        = errors.New("user not found")
	ErrPhoneTaken      = errors.New("phone already registered")
	ErrEmailTaken      = errors.New("email already registered")
	ErrNationalIDTaken = errors.New("national id already registered")
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

// Repository stores users; postgres implements it.
type Repository interface {
	// Create stores a new customer and returns it, or ErrPhoneTaken, ErrEmailTaken
	// or ErrNationalIDTaken.
	Create(ctx context.Context, r Registration) (User, error)
	// Get returns the user with id, or ErrNotFound.
	Get(ctx context.Context, id int64) (User, error)
}

// Service holds the identity use cases.
type Service struct {
	repo Repository
	now  func() time.Time
}

// NewService returns the use cases over repo; now is the clock validation uses.
func NewService(repo Repository, now func() time.Time) *Service {
	return &Service{repo: repo, now: now}
}

// Register validates in and creates the user.
func (s *Service) Register(ctx context.Context, in RegistrationInput) (User, error) {
	r, err := in.Validate(s.now())
	if err != nil {
		return User{}, err
	}
	return s.repo.Create(ctx, r)
}

// User returns the user with id.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	return s.repo.Get(ctx, id)
}
