package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd   string   // upper case: FROM, COPY, RUN, …
	flags []string // leading --flags
	args  string   // the rest
}

// stage is one FROM and the instructions after it.
type stage struct {
	from, name string
	ins        []instruction
}

// parseDockerfile parses the subset of Dockerfile syntax the services use:
// comments, `\` continuations, instructions with leading --flags.
func parseDockerfile(b []byte) ([]stage, error) {
	var stages []stage
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(strings.TrimSpace(body) + " ")
			continue
		}
		cur.WriteString(trimmed)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("file ends inside a continuation")
	}
	for _, l := range logical {
		cmd, rest, _ := strings.Cut(l, " ")
		in := instruction{cmd: strings.ToUpper(cmd)}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			flag, after, _ := strings.Cut(rest, " ")
			in.flags = append(in.flags, flag)
			rest = strings.TrimSpace(after)
		}
		in.args = rest
		if in.cmd == "FROM" {
			f := strings.Fields(rest)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				return nil, fmt.Errorf("%s before FROM", in.cmd)
			}
			continue
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	return stages, nil
}

// workspaceModules are the directories go.work uses.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	var dirs []string
	inUse := false
	for _, line := range strings.Split(string(readRepoFile(t, "go.work")), "\n") {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inUse && f[0] == ")":
			inUse = false
		case inUse:
			dirs = append(dirs, path.Clean(f[0]))
		case f[0] == "use" && len(f) > 1 && f[1] == "(":
			inUse = true
		case f[0] == "use" && len(f) > 1:
			dirs = append(dirs, path.Clean(f[1]))
		}
	}
	if len(dirs) == 0 {
		t.Fatal("go.work uses no modules")
	}
	return dirs
}

// TestDockerfiles checks each service's Dockerfile for what the images promise:
// a static, version-stamped, cached build from the workspace, and a distroless
// nonroot image exposing the API and ops ports.
func TestDockerfiles(t *testing.T) {
	t.Parallel()
	modules := workspaceModules(t)
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			t.Parallel()
			stages, err := parseDockerfile(readRepoFile(t, "services/"+svc+"/Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			if len(stages) != 2 {
				t.Fatalf("%d stages, want build and runtime", len(stages))
			}
			build, final := stages[0], stages[1]
			if build.from != "golang:1.26" || build.name == "" {
				t.Errorf("build stage FROM %s AS %q, want golang:1.26 with a name", build.from, build.name)
			}
			if final.from != "gcr.io/distroless/static-debian12:nonroot" {
				t.Errorf("runtime stage FROM %s", final.from)
			}

			var env, copied []string
			var goBuild *instruction
			firstSource, download := -1, -1
			for i, in := range build.ins {
				switch in.cmd {
				case "ENV":
					env = append(env, strings.Fields(in.args)...)
				case "COPY":
					f := strings.Fields(in.args)
					for _, src := range f[:len(f)-1] {
						copied = append(copied, src)
						if strings.HasPrefix(src, "tools") {
							t.Errorf("COPY %s: images must not need tools/", src)
						}
						if !strings.HasSuffix(src, "go.mod") && !strings.HasSuffix(src, "go.sum") && !strings.HasPrefix(src, "go.work") && firstSource < 0 {
							firstSource = i
						}
					}
				case "RUN":
					if strings.Contains(in.args, "go mod download") && download < 0 {
						download = i
					}
					if strings.Contains(in.args, "go build") {
						goBuild = &build.ins[i]
					}
				}
			}
			if !slices.Contains(env, "CGO_ENABLED=0") {
				t.Error("CGO_ENABLED=0 is not set: the binary must be static for distroless/static")
			}
			if !slices.ContainsFunc(build.ins, func(in instruction) bool { return in.cmd == "ARG" && strings.HasPrefix(in.args, "VERSION") }) {
				t.Error("no ARG VERSION")
			}
			if download < 0 || firstSource < 0 || download > firstSource {
				t.Error("modules must be downloaded after copying go.mod/go.sum and before the sources, for the layer cache")
			}
			for _, m := range modules {
				for _, f := range []string{m + "/go.mod", m + "/go.sum"} {
					if !slices.Contains(copied, f) {
						t.Errorf("go.work uses %s but %s is not copied: the workspace would not load", m, f)
					}
				}
			}
			if !slices.Contains(copied, "go.work") {
				t.Error("go.work is not copied")
			}
			if goBuild == nil {
				t.Fatal("no RUN go build")
			}
			// The cache mounts must be where go looks: GOMODCACHE and GOCACHE as set
			// (the golang image's default module cache is /go/pkg/mod).
			envVal := func(key string) string {
				for _, kv := range env {
					if v, ok := strings.CutPrefix(kv, key+"="); ok {
						return v
					}
				}
				return ""
			}
			for _, c := range []struct{ env, want string }{{"GOMODCACHE", "/root/go/pkg/mod"}, {"GOCACHE", "/root/.cache/go-build"}} {
				if envVal(c.env) != c.want {
					t.Errorf("ENV %s=%q, want %s, where the cache mount is", c.env, envVal(c.env), c.want)
				}
				if !slices.Contains(goBuild.flags, "--mount=type=cache,target="+c.want) {
					t.Errorf("go build without a cache mount at %s", c.want)
				}
			}
			for _, want := range []string{"-trimpath", `-ldflags "-s -w -X amancair.dev/pkg/platform.Version=${VERSION}"`, "./services/" + svc + "/cmd/" + svc} {
				if !strings.Contains(goBuild.args, want) {
					t.Errorf("go build lacks %s", want)
				}
			}

			var user, entrypoint string
			var exposed []string
			for _, in := range final.ins {
				switch in.cmd {
				case "USER":
					user = in.args
				case "EXPOSE":
					exposed = append(exposed, strings.Fields(in.args)...)
				case "ENTRYPOINT":
					entrypoint = in.args
				case "RUN", "VOLUME":
					t.Errorf("%s in the distroless stage", in.cmd)
				}
			}
			if user != "nonroot" && user != "nonroot:nonroot" && user != "65532" && user != "65532:65532" {
				t.Errorf("USER %q, want distroless's nonroot", user)
			}
			if !slices.Contains(exposed, "8080") || !slices.Contains(exposed, "9090") {
				t.Errorf("EXPOSE %v, want 8080 and 9090", exposed)
			}
			var ep []string
			if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || !slices.Equal(ep, []string{"/" + svc}) {
				t.Errorf(`ENTRYPOINT %s, want ["/%s"] (exec form: distroless has no shell)`, entrypoint, svc)
			}
		})
	}
}

// buildContext lists the files `docker build .` sends from the repository root:
// everything .dockerignore does not exclude.
func buildContext(t *testing.T) map[string]bool {
	t.Helper()
	root := repoRoot(t)
	patterns, err := ignorefile.ReadAll(bytes.NewReader(readRepoFile(t, ".dockerignore")))
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			// An excluded directory is still walked when an exception may
			// re-include something below it.
			if excluded && !slices.ContainsFunc(pm.Patterns(), func(p *patternmatcher.Pattern) bool {
				return p.Exclusion() && strings.HasPrefix(p.String(), rel+"/")
			}) {
				return filepath.SkipDir
			}
			return nil
		}
		if !excluded {
			files[rel] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDockerContext: the build context holds what the images need and leaves out
// the rest.
func TestDockerContext(t *testing.T) {
	t.Parallel()
	files := buildContext(t)
	for _, want := range []string{"go.work", "pkg/go.mod", "deploy/check/go.mod", "devstack/go.mod"} {
		if !files[want] {
			t.Errorf("%s is not in the build context", want)
		}
	}
	for f := range files {
		for _, prefix := range []string{".git/", "bin/", "tools/", "deploy/helm/", "docs/", "devstack/e2e/"} {
			if strings.HasPrefix(f, prefix) {
				t.Errorf("%s is in the build context", f)
			}
		}
	}
}

// TestDockerBuildReplay replays each Dockerfile's build stage without Docker:
// the build context as .dockerignore leaves it, each COPY into a scratch
// directory, each RUN with the stage's ENV and ARGs; then runs the binary's
// `version` to see VERSION stamped. It fails when a COPY misses a file the build
// needs, .dockerignore drops one, or a RUN command is wrong.
func TestDockerBuildReplay(t *testing.T) {
	t.Parallel()
	files := buildContext(t)
	root := repoRoot(t)
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			t.Parallel()
			stages, err := parseDockerfile(readRepoFile(t, "services/"+svc+"/Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			scratch := t.TempDir()
			workdir := "/"
			version := "check-" + svc
			env := []string{"GOWORK=", "GOFLAGS=", "GOTOOLCHAIN=local"}
			local := func(p string) string { // an image path in the scratch directory
				if !path.IsAbs(p) {
					p = path.Join(workdir, p)
				}
				return filepath.Join(scratch, filepath.FromSlash(p))
			}
			for _, in := range stages[0].ins {
				switch in.cmd {
				case "WORKDIR":
					workdir = path.Join(workdir, in.args)
					if err := os.MkdirAll(local("."), 0o755); err != nil {
						t.Fatal(err)
					}
				case "ENV":
					for _, kv := range strings.Fields(in.args) {
						// The caches are BuildKit cache mounts in the image; here the
						// machine's own caches stand in for them.
						if !strings.HasPrefix(kv, "GOMODCACHE=") && !strings.HasPrefix(kv, "GOCACHE=") {
							env = append(env, kv)
						}
					}
				case "ARG":
					name, def, _ := strings.Cut(in.args, "=")
					if name == "VERSION" {
						def = version
					}
					env = append(env, name+"="+def)
				case "COPY":
					f := strings.Fields(in.args)
					for _, src := range f[:len(f)-1] {
						copyFromContext(t, root, files, src, local(f[len(f)-1]), strings.HasSuffix(f[len(f)-1], "/"))
					}
				case "RUN":
					// Absolute paths outside the workdir (the build's /out) go to the scratch directory.
					cmd := regexp.MustCompile(`(^|\s)/out/`).ReplaceAllString(in.args, "${1}"+filepath.Join(scratch, "out")+"/")
					if _, stderr, err := runIn(t, local("."), env, nil, "sh", "-c", cmd); err != nil {
						t.Fatalf("RUN %s: %v\n%s", in.args, err, stderr)
					}
				default:
					t.Fatalf("the replay does not model %s", in.cmd)
				}
			}
			// The runtime stage copies the binary from the build stage.
			var binary string
			for _, in := range stages[1].ins {
				if in.cmd == "COPY" && slices.Contains(in.flags, "--from="+stages[0].name) {
					binary = filepath.Join(scratch, filepath.FromSlash(strings.Fields(in.args)[0]))
				}
			}
			if binary == "" {
				t.Fatal("the runtime stage copies nothing from the build stage")
			}
			out, stderr, err := runIn(t, scratch, nil, nil, binary, "version")
			if err != nil {
				t.Fatalf("%s version: %v\n%s", svc, err, stderr)
			}
			if got, want := strings.TrimSpace(string(out)), svc+" "+version; got != want {
				t.Errorf("`%s version` says %q, want %q: VERSION is not stamped", svc, got, want)
			}
		})
	}
}

// copyFromContext does COPY src dst: src relative to the build context (a file,
// a glob, or a directory whose contents are copied), as Docker does.
func copyFromContext(t *testing.T, root string, files map[string]bool, src, dst string, dstIsDir bool) {
	t.Helper()
	src = path.Clean(src)
	var matched []string
	for f := range files {
		switch ok, _ := path.Match(src, f); {
		case ok:
			matched = append(matched, f)
		case strings.HasPrefix(f, src+"/"):
			matched = append(matched, f)
		}
	}
	if len(matched) == 0 {
		if strings.ContainsAny(src, "*?[") {
			return // a wildcard matching nothing copies nothing
		}
		t.Fatalf("COPY %s: not in the build context (missing, or excluded by .dockerignore)", src)
	}
	for _, f := range matched {
		target := dst
		switch {
		case strings.HasPrefix(f, src+"/"): // below a copied directory
			target = filepath.Join(dst, filepath.FromSlash(strings.TrimPrefix(f, src+"/")))
		case dstIsDir || len(matched) > 1:
			target = filepath.Join(dst, path.Base(f))
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDockerfileParser checks the parser on the forms the services use.
func TestDockerfileParser(t *testing.T) {
	t.Parallel()
	stages, err := parseDockerfile([]byte("# syntax=docker/dockerfile:1\nFROM a:1 AS build\n# note\nRUN --mount=type=cache,target=/x \\\n    go build \\\n  ./...\nFROM b\nENTRYPOINT [\"/x\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].name != "build" || stages[1].from != "b" {
		t.Fatalf("stages %+v", stages)
	}
	run := stages[0].ins[0]
	if run.cmd != "RUN" || !slices.Equal(run.flags, []string{"--mount=type=cache,target=/x"}) || run.args != "go build ./..." {
		t.Errorf("RUN parsed as %+v", run)
	}
}
