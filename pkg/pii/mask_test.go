package pii_test

import (
	"testing"

	"amancair.dev/pkg/pii"
)

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		head, tail int
		want       string
	}{
		{"3201525205900001", 4, 2, "3201**********01"},
		{"356938035643809", 2, 3, "35**********809"},
		{"12345", 4, 2, "*****"},
		{"", 2, 3, ""},
	}
	for _, tt := range tests {
		if got := pii.Mask(tt.in, tt.head, tt.tail); got != tt.want {
			t.Errorf("Mask(%q, %d, %d) = %q, want %q", tt.in, tt.head, tt.tail, got, tt.want)
		}
	}
}
