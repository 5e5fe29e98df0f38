package config_test

import (
	"strings"
	"testing"
	"time"

	"amancair.dev/pkg/config"
)

func TestEnvNamesEveryBadVariable(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"PORT":    "seventy",
		"TIMEOUT": "-3s",
		"DB":      "mysql://x/y",
		"LEVEL":   "loud",
	}
	env := config.New(func(k string) string { return vars[k] })
	env.Int("PORT", 1, 1, 65535)
	env.Duration("TIMEOUT", time.Second)
	env.URL("DB", "", "postgres")
	env.OneOf("LEVEL", "info", "debug", "info")
	env.Required("SECRET")

	err := env.Err()
	if err == nil {
		t.Fatal("Err() = nil, want every bad variable named")
	}
	for _, name := range []string{"PORT", "TIMEOUT", "DB", "LEVEL", "SECRET is required"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestEnvDefaultsAndValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vars map[string]string
		want int
	}{
		{"unset takes the default", nil, 8080},
		{"set takes the value", map[string]string{"PORT": "9000"}, 9000},
		{"blank counts as unset", map[string]string{"PORT": "  "}, 8080},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := config.New(func(k string) string { return tt.vars[k] })
			if got := env.Int("PORT", 8080, 1, 65535); got != tt.want {
				t.Errorf("Int = %d, want %d", got, tt.want)
			}
			if err := env.Err(); err != nil {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}
