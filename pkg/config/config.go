// Package config reads typed settings from the environment. Every reader records
// what is missing or malformed, so a service refuses to start with one message that
// names each bad variable instead of failing later on a zero value.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Env reads variables through getenv, as app.Run receives it (os.Getenv in main,
// a map in tests).
type Env struct {
	getenv func(string) string
	errs   []error
}

// New returns an Env reading through getenv.
func New(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// Lookup returns the trimmed value of name, or "" when it is unset.
func (e *Env) Lookup(name string) string { return strings.TrimSpace(e.getenv(name)) }

// String returns name's value, or def when it is unset.
func (e *Env) String(name, def string) string {
	if v := e.Lookup(name); v != "" {
		return v
	}
	return def
}

// Required returns name's value and records an error when it is unset.
func (e *Env) Required(name string) string {
	v := e.Lookup(name)
	if v == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is required", name))
	}
	return v
}

// Int returns name as an integer within [lo, hi], or def when it is unset.
func (e *Env) Int(name string, def, lo, hi int) int {
	v := e.Lookup(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.errs = append(e.errs, fmt.Errorf("%s must be a whole number from %d to %d, got %q", name, lo, hi, v))
		return def
	}
	return n
}

// Duration returns name as a positive Go duration ("5s", "2m"), or def when unset.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.Lookup(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Errorf("%s must be a positive duration such as 5s, got %q", name, v))
		return def
	}
	return d
}

// URL returns name as an absolute URL with one of the given schemes, or def when
// unset. The value is never echoed back, since URLs may carry credentials.
func (e *Env) URL(name, def string, schemes ...string) string {
	v := e.String(name, def)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" && u.Scheme != "unix" {
		e.errs = append(e.errs, fmt.Errorf("%s must be an absolute URL", name))
		return v
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	e.errs = append(e.errs, fmt.Errorf("%s must use one of the schemes %s", name, strings.Join(schemes, ", ")))
	return v
}

// OneOf returns name's value when it is one of allowed, or def when unset.
func (e *Env) OneOf(name, def string, allowed ...string) string {
	v := e.String(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.errs = append(e.errs, fmt.Errorf("%s must be one of %s, got %q", name, strings.Join(allowed, ", "), v))
	return def
}

// Err reports every problem recorded so far, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("configuration: %w", errors.Join(e.errs...))
}
