package devstack

import (
	"context"
	"fmt"
	"os"
	"testing"

	"amancair.dev/pkg/testenv"
)

// TestMain is a test package's TestMain around one throwaway stack: it starts
// the stack (ephemeral, its database from TEST_DATABASE_URL when set) with every
// process's output in logs, hands it to use, runs the tests, stops the stack, and
// prints the logs when anything failed. It returns the exit code.
func TestMain(m *testing.M, opts Options, logs *testenv.SyncBuffer, use func(*Stack)) int {
	opts.Ephemeral, opts.Log = true, logs
	if opts.DatabaseURL == "" {
		opts.DatabaseURL = os.Getenv("TEST_DATABASE_URL")
	}
	stack, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "start stack: %v\n%s", err, logs.String())
		return 1
	}
	use(stack)
	code := m.Run()
	stack.Stop()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- stack logs ---\n%s", logs.String())
	}
	return code
}
