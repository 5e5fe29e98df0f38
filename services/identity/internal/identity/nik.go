package identity

import (
	"errors"
	"strings"
	"time"
)

// NIK is an Indonesian national identity number (Nomor Induk Kependudukan): 16
// digits — province, regency and district codes (2+2+2), the holder's birth date as
// DDMMYY with 40 added to the day for women, and a 4-digit serial.
type NIK string

// provinces are the province codes Dukcapil has issued, including Papua's new ones.
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true, "16": true, "17": true, "18": true, "19": true,
	"21": true, "31": true, "32": true, "33": true, "34": true, "35": true, "36": true,
	"51": true, "52": true, "53": true, "61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "72": true, "73": true, "74": true, "75": true, "76": true, "81": true, "82": true,
	"91": true, "92": true, "93": true, "94": true, "95": true, "96": true,
}

// ParseNIK checks raw's structure: 16 digits, a known province, non-zero regency,
// district and serial, and a real calendar date.
func ParseNIK(raw string) (NIK, error) {
	s := strings.TrimSpace(raw)
	if len(s) != 16 || strings.Trim(s, "0123456789") != "" {
		return "", errors.New("must be exactly 16 digits")
	}
	switch {
	case !provinces[s[0:2]]:
		return "", errors.New("must start with a valid province code")
	case s[2:4] == "00" || s[4:6] == "00":
		return "", errors.New("must have valid regency and district codes")
	case s[12:16] == "0000":
		return "", errors.New("must have a non-zero serial number")
	}
	n := NIK(s)
	if !n.validDate() {
		return "", errors.New("must encode a valid birth date (DDMMYY, day + 40 for women)")
	}
	return n, nil
}

func (n NIK) String() string { return string(n) }

func (n NIK) day() int {
	d := atoi2(string(n[6:8]))
	if d > 40 {
		d -= 40
	}
	return d
}

func (n NIK) month() int { return atoi2(string(n[8:10])) }
func (n NIK) yy() int    { return atoi2(string(n[10:12])) }

// Gender is the sex the NIK encodes.
func (n NIK) Gender() string {
	if atoi2(string(n[6:8])) > 40 {
		return GenderFemale
	}
	return GenderMale
}

// BornOn reports whether the NIK's birth date is d (the century is not encoded).
func (n NIK) BornOn(d time.Time) bool {
	return d.Day() == n.day() && int(d.Month()) == n.month() && d.Year()%100 == n.yy()
}

func (n NIK) validDate() bool {
	raw := atoi2(string(n[6:8]))
	if raw < 1 || raw > 71 || raw > 31 && raw < 41 {
		return false
	}
	// Valid if the date exists in either century (29 February needs a leap year).
	for _, century := range []int{1900, 2000} {
		y := century + n.yy()
		t := time.Date(y, time.Month(n.month()), n.day(), 0, 0, 0, 0, time.UTC)
		if n.month() >= 1 && n.month() <= 12 && t.Day() == n.day() && int(t.Month()) == n.month() {
			return true
		}
	}
	return false
}

func atoi2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }
