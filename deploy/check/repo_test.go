package check

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// services are the four services, each with a Dockerfile, a chart entry, a
// compose service and a migrate job.
var services = []string{"identity", "device", "contacts", "audit"}

var (
	rootOnce sync.Once
	root     string
	rootErr  error
)

// repoRoot is the directory holding go.work, found upwards from the test's
// working directory (deploy/check), also under GOWORK=off.
func repoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("no go.work above the working directory")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatalf("repository root: %v", rootErr)
	}
	return root
}

// repoPath joins elems to the repository root.
func repoPath(t testing.TB, elems ...string) string {
	return filepath.Join(append([]string{repoRoot(t)}, elems...)...)
}

// toolBuilders says which script builds each binary the checks run.
var toolBuilders = map[string]string{
	"helm":       "scripts/deploy-tools.sh helm",
	"kube-score": "scripts/deploy-tools.sh kube-score",
	"skaffold":   "scripts/deploy-tools.sh skaffold",
	"caddy":      "scripts/tools.sh caddy",
}

// bin is the path of a pinned tool in <root>/bin. A missing tool fails the test:
// a check that silently skips proves nothing.
func bin(t testing.TB, name string) string {
	t.Helper()
	path := repoPath(t, "bin", name)
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("%s not found at %s: build it with `%s` (from the repository root)", name, path, toolBuilders[name])
	}
	return path
}

// run runs a command in the repository root and returns its standard output; a
// non-zero exit fails the test with the command's standard error.
func run(t testing.TB, env []string, name string, args ...string) []byte {
	t.Helper()
	out, stderr, err := runErr(t, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr)
	}
	return out
}

// runErr is run that hands the failure back.
func runErr(t testing.TB, env []string, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	return runIn(t, repoRoot(t), env, nil, name, args...)
}

// runStdin runs a command in the repository root with stdin as its input.
func runStdin(t testing.TB, stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	return runIn(t, repoRoot(t), nil, stdin, name, args...)
}

// runIn runs a command in dir with env added to the test's environment.
func runIn(t testing.TB, dir string, env []string, stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// readRepoFile reads a file of the repository.
func readRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
