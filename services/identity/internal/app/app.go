// Package app wires the identity service together and runs it.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"

	"amancair.dev/pkg/phone"
	"amancair.dev/pkg/platform"
	"amancair.dev/services/identity/internal/httpapi"
	"amancair.dev/services/identity/internal/identity"
	"amancair.dev/services/identity/internal/peers"
	"amancair.dev/services/identity/internal/postgres"
	"amancair.dev/services/identity/internal/sms"
	"amancair.dev/services/identity/internal/vault"
)

// Run runs the identity command in args (serve, migrate, version, grant-role).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	// One signer per process, whichever of Keys and Mount asks first: it verifies
	// identity's own tokens and signs new ones from the same cached key versions.
	var signer *vault.Signer
	signerFor := func(d *platform.Deps) *vault.Signer {
		if signer == nil {
			signer = vault.NewSigner(d.Transit)
		}
		return signer
	}
	return platform.Run(ctx, platform.Service{
		Name:        "identity",
		Migrations:  postgres.Migrations(),
		Mapper:      httpapi.Problems,
		TransitKeys: vault.Keys,
		PIIKey:      "identity-pii",
		Keys: func(d *platform.Deps) (jwt.Keyfunc, error) {
			return signerFor(d).Keyfunc, nil
		},
		Mount: func(d *platform.Deps, app *fiber.App) error {
			policy := identity.DefaultLoginPolicy()
			policy.Issuer, policy.Audience = d.Issuer, d.Audience
			policy.CodeTTL = d.Env.Duration("OTP_TTL", policy.CodeTTL)
			policy.PhoneExchanges.Count = d.Env.Int("CODE_GUESSES_PER_PHONE_IP", policy.PhoneExchanges.Count, 1, 1_000_000)
			logins := postgres.NewLogins(d.Pool, d.Outbox, d.Keyring)
			hasher := vault.NewHasher(d.Transit)
			throttle := identity.NewThrottle(logins, logins)
			login := identity.NewLogin(logins, hasher, signerFor(d),
				sms.NewPublisher(d.NATS, d.Env.String("SMS_SUBJECT", sms.Subject), d.Telemetry.Propagator),
				throttle, policy, time.Now)
			others := peers.New(map[string]string{
				"device":   d.Env.URL("DEVICE_URL", "http://127.0.0.1:8082", "http", "https"),
				"contacts": d.Env.URL("CONTACTS_URL", "http://127.0.0.1:8083", "http", "https"),
			}, d.Telemetry.TracerProvider, d.Telemetry.Propagator)
			users := identity.NewService(postgres.NewUsers(d.Pool, d.Outbox, d.Keyring), others, throttle, time.Now)
			users.Registrations.Count = d.Env.Int("REGISTRATIONS_PER_IP", users.Registrations.Count, 1, 1_000_000_000)
			return httpapi.Routes(app, users, login, signerFor(d), d.Auth)
		},
		Commands: map[string]platform.Command{"grant-role": grantRole, "revoke-role": revokeRole},
	}, args, getenv, stdout)
}

// grantRole is `identity grant-role --phone +628… --role admin`.
func grantRole(ctx context.Context, d *platform.CommandDeps, args []string, stdout io.Writer) error {
	return changeRole(ctx, d, "grant-role", args, stdout, identity.Roles, postgres.NewUsers(d.Pool, d.Outbox, d.Keyring).GrantRole)
}

// revokeRole is `identity revoke-role --phone +628… --role ops`: the user's
// refresh tokens are revoked with it, so the role leaves every session within
// an access token's 15 minutes.
func revokeRole(ctx context.Context, d *platform.CommandDeps, args []string, stdout io.Writer) error {
	staff := slices.DeleteFunc(slices.Clone(identity.Roles), func(r string) bool { return r == "customer" })
	return changeRole(ctx, d, "revoke-role", args, stdout, staff, postgres.NewUsers(d.Pool, d.Outbox, d.Keyring).RevokeRole)
}

func changeRole(ctx context.Context, d *platform.CommandDeps, name string, args []string, stdout io.Writer, allowed []string,
	change func(ctx context.Context, phone, role string) (int64, []string, error)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	rawPhone := fs.String("phone", "", "the user's phone, e.g. +628123456789")
	role := fs.String("role", "", "one of "+strings.Join(allowed, ", "))
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := phone.NormalizeMobile(*rawPhone)
	if err != nil {
		return fmt.Errorf("--phone %w", err)
	}
	if !slices.Contains(allowed, *role) {
		return fmt.Errorf("--role must be one of %s", strings.Join(allowed, ", "))
	}
	id, roles, err := change(ctx, p, *role)
	if errors.Is(err, identity.ErrNotFound) {
		return errors.New("no user has this phone")
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "user %d now has roles %s\n", id, strings.Join(roles, ", "))
	return err
}
