package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// DecodeJSON reads the request body into v. A body that is not one JSON value of the
// right shape (bad syntax, a wrong type for a field, trailing data) is a 400 that
// says which field; unknown fields are ignored. A Content-Type other than JSON is 415.
func DecodeJSON(c *fiber.Ctx, v any) error {
	if ct := c.Get(fiber.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != fiber.MIMEApplicationJSON {
			return NewProblem(http.StatusUnsupportedMediaType, "Send the body as application/json.")
		}
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return NewProblem(http.StatusBadRequest, "The request body is empty; a JSON object is expected.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return NewProblem(http.StatusBadRequest, describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return NewProblem(http.StatusBadRequest, "The body has data after the JSON value.")
	}
	return nil
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("Field %q must be %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &typeErr):
		return "The body must be a JSON object."
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return "The body is not valid JSON."
	}
	return "The body is not valid JSON."
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "int32", "uint", "uint64":
		return "a whole number"
	case "float64":
		return "a number"
	case "slice":
		return "an array"
	}
	return "an object"
}
