package device

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"amancair.dev/pkg/validation"
)

// RegistrationInput is a device registration as the client sent it: nil means absent.
type RegistrationInput struct {
	UserID        *int64
	IMEI          *string
	AndroidID     *string
	AdvertisingID *string
	SIMSerial     *string
	DeviceModel   *string
	OSVersion     *string
}

// Registration is a validated, normalised device registration. Identifiers that
// were not sent are empty.
type Registration struct {
	UserID        int64
	IMEI          string
	AndroidID     string
	AdvertisingID string
	SIMSerial     string
	Model         string
	OSVersion     string
}

// Validate checks every field and reports all bad ones at once. At least one of
// imei, android_id and advertising_id is needed: since Android 10 ordinary apps
// cannot read the IMEI, so newer phones send only the other two.
func (in RegistrationInput) Validate() (Registration, error) {
	var errs validation.Errors
	var r Registration

	if in.UserID == nil || *in.UserID <= 0 {
		errs.Add("user_id", "must be a positive id")
	} else {
		r.UserID = *in.UserID
	}
	if in.IMEI != nil {
		if s := strings.TrimSpace(*in.IMEI); len(s) == 15 && allDigits(s) && luhn(s) {
			r.IMEI = s
		} else {
			errs.Add("imei", "must be 15 digits with a valid Luhn check digit")
		}
	}
	if in.AndroidID != nil {
		if s := strings.ToLower(strings.TrimSpace(*in.AndroidID)); len(s) == 16 && strings.Trim(s, "0123456789abcdef") == "" {
			r.AndroidID = s
		} else {
			errs.Add("android_id", "must be 16 hexadecimal digits")
		}
	}
	if in.AdvertisingID != nil {
		id, err := uuid.Parse(strings.TrimSpace(*in.AdvertisingID))
		switch {
		case err != nil || len(strings.TrimSpace(*in.AdvertisingID)) != 36:
			errs.Add("advertising_id", "must be a UUID such as 38400000-8cf0-11bd-b23e-10b96e40000d")
		case id == uuid.Nil:
			errs.Add("advertising_id", "must not be the all-zero id a phone reports when ad tracking is off; omit it instead")
		default:
			r.AdvertisingID = id.String()
		}
	}
	if in.SIMSerial != nil {
		if s := strings.TrimSpace(*in.SIMSerial); len(s) >= 18 && len(s) <= 22 && allDigits(s) && strings.HasPrefix(s, "89") {
			r.SIMSerial = s
		} else {
			errs.Add("sim_serial", "must be an ICCID: 18 to 22 digits starting with 89")
		}
	}
	r.Model = text(&errs, "device_model", in.DeviceModel)
	r.OSVersion = text(&errs, "os_version", in.OSVersion)
	if in.IMEI == nil && in.AndroidID == nil && in.AdvertisingID == nil {
		errs.Add("imei", "at least one of imei, android_id and advertising_id is required")
	}
	return r, errs.Err()
}

// text validates an optional free-text field of at most 100 characters.
func text(errs *validation.Errors, field string, raw *string) string {
	if raw == nil {
		return ""
	}
	s := strings.TrimSpace(*raw)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 100 || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		errs.Add(field, "must be at most 100 printable characters")
		return ""
	}
	return s
}

func allDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// luhn reports whether the last digit of s is its Luhn check digit.
func luhn(s string) bool {
	sum := 0
	for i := range len(s) {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
