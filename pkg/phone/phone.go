// Package phone validates and normalises Indonesian mobile numbers with
// libphonenumber's metadata, so that "0812…", "62812…" and "+62 812-…" all name the
// same subscriber as "+62812…".
package phone

import (
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is returned for anything that is not an Indonesian mobile number.
var ErrInvalid = errors.New("must be an Indonesian mobile number in E.164 form, e.g. +628123456789")

// NormalizeMobile returns raw as an E.164 Indonesian mobile number (+628…, 10 to 13
// digits after +62), or ErrInvalid.
func NormalizeMobile(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > 32 || strings.IndexFunc(s, notDialable) >= 0 {
		return "", ErrInvalid
	}
	if strings.HasPrefix(s, "62") {
		s = "+" + s
	}
	num, err := phonenumbers.Parse(s, "ID")
	if err != nil || num.GetCountryCode() != 62 || num.GetExtension() != "" {
		return "", ErrInvalid
	}
	if !phonenumbers.IsValidNumberForRegion(num, "ID") {
		return "", ErrInvalid
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", ErrInvalid
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	national := strings.TrimPrefix(e164, "+62")
	if !strings.HasPrefix(national, "8") || len(national) < 10 || len(national) > 13 {
		return "", ErrInvalid
	}
	return e164, nil
}

// notDialable reports runes that have no place in a written phone number; letters
// would otherwise be read as vanity digits or an extension by libphonenumber.
func notDialable(r rune) bool {
	return !(r >= '0' && r <= '9' || strings.ContainsRune("+ -().", r))
}
