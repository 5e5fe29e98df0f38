package identity

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"amancair.dev/pkg/phone"
	"amancair.dev/pkg/validation"
)

// RegistrationInput is a registration as the client sent it: nil means absent.
type RegistrationInput struct {
	Name       *string
	Phone      *string
	Email      *string
	DOB        *string
	Gender     *string
	NationalID *string
}

// Registration is a validated, normalised registration.
type Registration struct {
	Name       string
	Phone      string
	Email      string
	DOB        *time.Time
	Gender     string
	NationalID string
}

// Validate checks every field, normalises it (trimmed name, E.164 phone, lower-case
// email) and reports all bad fields at once. now decides what "in the past" means.
func (in RegistrationInput) Validate(now time.Time) (Registration, error) {
	var errs validation.Errors
	var r Registration

	r.Name = validName(&errs, in.Name)
	if in.Phone == nil {
		errs.Add("phone", "is required")
	} else if p, err := phone.NormalizeMobile(*in.Phone); err != nil {
		errs.Add("phone", err.Error())
	} else {
		r.Phone = p
	}
	if in.Email == nil {
		errs.Add("email", "is required")
	} else if e, ok := normalizeEmail(*in.Email); !ok {
		errs.Add("email", "must be a valid email address, e.g. budi@example.com")
	} else {
		r.Email = e
	}
	if in.DOB != nil {
		d, err := time.Parse(time.DateOnly, strings.TrimSpace(*in.DOB))
		switch {
		case err != nil:
			errs.Add("dob", "must be a date in the form YYYY-MM-DD")
		case !d.Before(today(now)) || d.Year() < 1900:
			errs.Add("dob", "must be a date in the past, after 1900")
		default:
			r.DOB = &d
		}
	}
	if in.Gender != nil {
		switch g := strings.ToLower(strings.TrimSpace(*in.Gender)); g {
		case GenderMale, GenderFemale:
			r.Gender = g
		default:
			errs.Add("gender", "must be male or female")
		}
	}
	if in.NationalID != nil {
		nik, err := ParseNIK(*in.NationalID)
		switch {
		case err != nil:
			errs.Add("national_id", err.Error())
		case r.DOB != nil && !nik.BornOn(*r.DOB):
			errs.Add("national_id", "does not match dob: a NIK encodes its holder's date of birth")
		case r.Gender != "" && nik.Gender() != r.Gender:
			errs.Add("national_id", "does not match gender: a NIK encodes its holder's sex")
		default:
			r.NationalID = nik.String()
		}
	}
	return r, errs.Err()
}

func today(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func validName(errs *validation.Errors, raw *string) string {
	if raw == nil {
		errs.Add("name", "is required")
		return ""
	}
	name := strings.TrimSpace(*raw)
	n := utf8.RuneCountInString(name)
	switch {
	case !utf8.ValidString(name):
		errs.Add("name", "must be valid UTF-8 text")
	case n == 0 || n > 100:
		errs.Add("name", "must be 1 to 100 characters")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		errs.Add("name", "must not contain control characters")
	case strings.IndexFunc(name, unicode.IsLetter) < 0:
		errs.Add("name", "must contain a letter")
	default:
		return name
	}
	return ""
}

// normalizeEmail accepts a bare address (no display name), at most 254 characters
// with a dotted domain, and returns it in lower case.
func normalizeEmail(raw string) (string, bool) {
	s := strings.TrimSpace(raw)
	if len(s) > 254 {
		return "", false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", false
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.ContainsAny(domain, "[]") {
		return "", false
	}
	return strings.ToLower(s), true
}

// UpdateInput is a profile change as the client sent it: nil means unchanged.
// The phone is the login identity and is not changed here.
type UpdateInput struct {
	Name       *string
	Email      *string
	DOB        *string
	Gender     *string
	NationalID *string
}

// Apply validates the change against u (the NIK must agree with the resulting
// date of birth and gender) and returns the changed user.
func (in UpdateInput) Apply(u User, now time.Time) (User, error) {
	merged := RegistrationInput{Name: &u.Name, Phone: &u.Phone, Email: &u.Email, DOB: in.DOB, Gender: in.Gender, NationalID: in.NationalID}
	if in.Name != nil {
		merged.Name = in.Name
	}
	if in.Email != nil {
		merged.Email = in.Email
	}
	if merged.DOB == nil && u.DOB != nil {
		d := u.DOB.Format(time.DateOnly)
		merged.DOB = &d
	}
	if merged.Gender == nil && u.Gender != "" {
		merged.Gender = &u.Gender
	}
	if merged.NationalID == nil && u.NationalID != "" {
		merged.NationalID = &u.NationalID
	}
	r, err := merged.Validate(now)
	if err != nil {
		return User{}, err
	}
	u.Name, u.Email, u.DOB, u.Gender, u.NationalID = r.Name, r.Email, r.DOB, r.Gender, r.NationalID
	return u, nil
}
