package phone_test

import (
	"errors"
	"testing"

	"amancair.dev/pkg/phone"
)

func TestNormalizeMobile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"+628123456789", "+628123456789"},
		{"08123456789", "+628123456789"},
		{"628123456789", "+628123456789"},
		{"+62 812-3456-789", "+628123456789"},
		{" 0811 1222 333 ", "+628111222333"},
		{"+6281312345678", "+6281312345678"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := phone.NormalizeMobile(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("NormalizeMobile(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizeMobileRejects(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"empty":                "",
		"letters":              "budi",
		"jakarta landline":     "+62215551234",
		"singapore mobile":     "+6591234567",
		"too short":            "+62812345",
		"too long":             "+628123456789012",
		"local without prefix": "8123456789x",
		"huge input":           "+6281234567890123456789012345678901234567890",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got, err := phone.NormalizeMobile(in); !errors.Is(err, phone.ErrInvalid) {
				t.Errorf("NormalizeMobile(%q) = %q, %v; want ErrInvalid", in, got, err)
			}
		})
	}
}
