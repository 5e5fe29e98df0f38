package pii

import (
	"strings"
	"unicode/utf8"
)

// Mask keeps the first head and last tail characters of s and stars the rest, as
// responses show identifiers: Mask("3201525205900001", 4, 2) is "3201**********01".
// A value too short to keep anything hidden is starred whole.
func Mask(s string, head, tail int) string {
	r := []rune(s)
	n := utf8.RuneCountInString(s)
	if n <= head+tail {
		return strings.Repeat("*", n)
	}
	return string(r[:head]) + strings.Repeat("*", n-head-tail) + string(r[n-tail:])
}
