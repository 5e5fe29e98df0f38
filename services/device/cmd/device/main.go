// Command device serves the phones AmanCair users register.
package main

import (
	"context"
	"fmt"
	"os"

	"amancair.dev/services/device/internal/app"
)

func main() {
	if err := app.Run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "device:", err)
		os.Exit(1)
	}
}
