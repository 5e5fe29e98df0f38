// Command audit keeps AmanCair's audit trail.
package main

import (
	"context"
	"fmt"
	"os"

	"amancair.dev/services/audit/internal/app"
)

func main() {
	if err := app.Run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		os.Exit(1)
	}
}
