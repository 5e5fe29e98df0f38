package pii

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// ServiceAccountTokenPath is where Kubernetes mounts the pod's service account token.
const ServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// KubernetesAuth logs a client in with Vault's Kubernetes auth method and keeps
// it logged in: the token is renewed while it can be, and the login repeated when
// it cannot (Vault restarted, max TTL reached).
type KubernetesAuth struct {
	Client    *vault.Client
	Role      string
	Mount     string // default "kubernetes"
	TokenPath string // default ServiceAccountTokenPath
	Logger    *slog.Logger

	ok atomic.Bool
}

// Ready reports whether the client holds a live token.
func (k *KubernetesAuth) Ready(context.Context) error {
	if !k.ok.Load() {
		return errors.New("vault: not logged in")
	}
	return nil
}

func (k *KubernetesAuth) login(ctx context.Context) (*vault.Secret, error) {
	path := k.TokenPath
	if path == "" {
		path = ServiceAccountTokenPath
	}
	jwt, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("service account token: %w", err)
	}
	mount := k.Mount
	if mount == "" {
		mount = "kubernetes"
	}
	sec, err := k.Client.Logical().WriteWithContext(ctx, "auth/"+mount+"/login",
		map[string]any{"role": k.Role, "jwt": strings.TrimSpace(string(jwt))})
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, errors.New("vault: kubernetes login returned no token")
	}
	k.Client.SetToken(sec.Auth.ClientToken)
	return sec, nil
}

// Run logs in and keeps the token alive until ctx ends.
func (k *KubernetesAuth) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		sec, err := k.login(ctx)
		if err != nil {
			k.ok.Store(false)
			k.Logger.Warn("vault login failed", "error", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			continue
		}
		k.ok.Store(true)
		watcher, err := k.Client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: sec})
		if err != nil {
			return err
		}
		go watcher.Start()
		select {
		case <-ctx.Done():
		case err := <-watcher.DoneCh():
			if err != nil {
				k.Logger.Warn("vault token renewal ended", "error", err.Error())
			}
		}
		watcher.Stop()
	}
	return nil
}
