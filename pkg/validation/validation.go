// Package validation collects field errors, so a request with several bad fields is
// answered once with all of them (RFC 9457 "errors" extension, status 422).
package validation

import "fmt"

// FieldError says what is wrong with one field, in words a client developer can act on.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Errors is the set of field errors found in one request; it is an error when
// non-empty.
type Errors []FieldError

// Add records that field is invalid.
func (e *Errors) Add(field, message string) { *e = append(*e, FieldError{field, message}) }

// Err returns e as an error, or nil when no field was invalid.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

func (e Errors) Error() string {
	if len(e) == 1 {
		return "1 field is invalid"
	}
	return fmt.Sprintf("%d fields are invalid", len(e))
}
