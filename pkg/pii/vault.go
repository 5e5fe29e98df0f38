// Package pii protects personal data with keys held in HashiCorp Vault's transit
// engine. This file holds the Vault connection every service shares.
package pii

import (
	"context"
	"errors"
	"fmt"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// ErrVaultSealed is reported by Ready while Vault cannot serve keys.
var ErrVaultSealed = errors.New("vault: not initialised or sealed")

// NewVaultClient returns a client for addr authenticated with token.
func NewVaultClient(addr, token string) (*vault.Client, error) {
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.Timeout = 5 * time.Second
	cfg.MaxRetries = 1
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.SetToken(token)
	return c, nil
}

// Ready reports whether Vault answers and is unsealed.
func Ready(c *vault.Client) func(context.Context) error {
	return func(ctx context.Context) error {
		h, err := c.Sys().HealthWithContext(ctx)
		if err != nil {
			return fmt.Errorf("vault health: %w", err)
		}
		if !h.Initialized || h.Sealed {
			return ErrVaultSealed
		}
		return nil
	}
}
