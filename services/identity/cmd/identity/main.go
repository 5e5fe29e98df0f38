// Command identity serves AmanCair's users, login and roles.
package main

import (
	"context"
	"fmt"
	"os"

	"amancair.dev/services/identity/internal/app"
)

func main() {
	if err := app.Run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "identity:", err)
		os.Exit(1)
	}
}
