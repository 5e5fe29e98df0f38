// Command devstack is `make run`: it brings up the whole AmanCair system locally
// (PostgreSQL, NATS, Vault, the four services and the gateway on :8000), prints the
// addresses it uses, streams every log line tagged with its source, and on Ctrl-C
// stops everything it started and nothing else.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"amancair.dev/devstack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stack, err := devstack.Start(ctx, devstack.Options{
		DatabaseURL: os.Getenv("DATABASE_URL"),
		NATSURL:     os.Getenv("NATS_URL"),
		VaultAddr:   os.Getenv("VAULT_ADDR"),
		VaultToken:  os.Getenv("VAULT_TOKEN"),
		GatewayAddr: os.Getenv("GATEWAY_ADDR"),
		Log:         os.Stdout,
	})
	if err != nil {
		return err
	}
	defer stack.Stop()

	fmt.Printf(`
AmanCair is up.
  gateway     %s   (docs: %s/users/docs, /devices/docs, /emergency/docs, /audit/docs)
  postgres    %s
  nats        %s
  vault       %s
`, stack.GatewayURL, stack.GatewayURL, redact(stack.DatabaseURL), stack.NATSURL, stack.VaultAddr)
	for _, svc := range devstack.Services {
		fmt.Printf("  %-10s  %s   (metrics and probes: %s)\n", svc, stack.ServiceURLs[svc], stack.OpsURLs[svc])
	}
	fmt.Println("Press Ctrl-C to stop everything started here.")
	err = stack.Wait(ctx)
	fmt.Println("\nstopping…")
	return err
}

// redact hides a password in a connection URL before it is printed.
func redact(dbURL string) string {
	if u, err := url.Parse(dbURL); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	return dbURL
}
