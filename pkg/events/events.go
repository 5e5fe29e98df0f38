// Package events connects a service to NATS, over which it publishes its changes
// (JetStream) and notifications (core NATS).
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrDisconnected is reported by Ready while the connection is down.
var ErrDisconnected = errors.New("nats: not connected")

// Credentials are how a service proves itself to NATS: a user and password, or a
// credentials file (JWT and NKey), and optionally a CA for TLS. All may be empty
// for a NATS without authentication (local runs and tests).
type Credentials struct {
	User, Password string
	CredsFile      string
	CAFile         string
}

func (c Credentials) options() []nats.Option {
	var opts []nats.Option
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	return opts
}

// Connect dials url and keeps reconnecting for the life of the process, so a NATS
// restart never needs a service restart; the service is simply not ready meanwhile.
func Connect(url, name string, creds Credentials, logger *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append(creds.options(),
		nats.Name(name),
		// Replies (JetStream acknowledgements and deliveries) come to an inbox of
		// the service's own, which NATS lets no other service read.
		nats.CustomInboxPrefix("_INBOX_"+name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when we close the connection ourselves
				logger.Warn("nats disconnected", "error", err.Error())
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { logger.Info("nats reconnected") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Error("nats error", "error", err.Error()) // permission violations, slow consumers
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	return nc, nil
}

// Ready reports whether nc is connected now.
func Ready(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if nc.Status() != nats.CONNECTED {
			return ErrDisconnected
		}
		return nil
	}
}

// IsUnavailable reports whether err means NATS could not take a message now.
func IsUnavailable(err error) bool {
	return errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrNoServers) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrConnectionDraining) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, ErrDisconnected)
}
