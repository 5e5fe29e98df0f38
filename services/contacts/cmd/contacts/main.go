// Command contacts serves AmanCair users' emergency contacts.
package main

import (
	"context"
	"fmt"
	"os"

	"amancair.dev/services/contacts/internal/app"
)

func main() {
	if err := app.Run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "contacts:", err)
		os.Exit(1)
	}
}
