// Command smsgateway stands in for the SMS gateway on a developer's machine: it
// subscribes to notifications.sms and prints each message it would send, so a
// login code can be read off the terminal. It is a development tool only; the
// services never log a code.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/nats-io/nats.go"
)

func main() {
	url := flag.String("nats", envOr("NATS_URL", nats.DefaultURL), "NATS server")
	subject := flag.String("subject", "notifications.sms", "subject the services publish SMS requests on")
	flag.Parse()
	if err := run(*url, *subject); err != nil {
		fmt.Fprintln(os.Stderr, "smsgateway:", err)
		os.Exit(1)
	}
}

func run(url, subject string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = nc.Subscribe(subject, func(m *nats.Msg) {
		var sms struct {
			To       string         `json:"to"`
			Template string         `json:"template"`
			Params   map[string]any `json:"params"`
		}
		if json.Unmarshal(m.Data, &sms) != nil {
			return
		}
		fmt.Printf("SMS to %s (%s): %v\n", sms.To, sms.Template, sms.Params)
	})
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s at %s; Ctrl-C to stop\n", subject, url)
	<-ctx.Done()
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
