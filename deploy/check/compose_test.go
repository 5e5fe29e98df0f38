package check

import (
	"bufio"
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// loadCompose loads docker-compose.yml with the compose-spec library, validating
// it against the compose schema, with the variables of envFiles (none: the
// file's own defaults). The test process's environment and a developer's .env
// stay out.
func loadCompose(t *testing.T, envFiles ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(root), cli.WithResolvedPaths(true)}
	if len(envFiles) > 0 {
		for i, f := range envFiles {
			envFiles[i] = filepath.Join(root, f)
		}
		opts = append(opts, cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	}
	po, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := po.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

// envOf returns a compose service's environment value ("" when unset).
func envOf(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

// TestComposeEnvExample: every variable docker-compose.yml reads has a default,
// .env.example lists each with exactly that default and nothing else, so that
// `docker compose up` with or without a copied .env is the same stack.
func TestComposeEnvExample(t *testing.T) {
	t.Parallel()
	// The variables in use, comments left out.
	var compose strings.Builder
	for _, line := range strings.Split(string(readRepoFile(t, "docker-compose.yml")), "\n") {
		if i := strings.Index(line, "#"); i >= 0 && (i == 0 || line[i-1] == ' ') {
			line = line[:i]
		}
		compose.WriteString(line + "\n")
	}
	example := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(readRepoFile(t, ".env.example")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf(".env.example: %q is not NAME=value", line)
			continue
		}
		example[k] = v
	}
	defaults := map[string]string{}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(:?-([^}]*))?\}`).FindAllStringSubmatch(compose.String(), -1) {
		name, def := m[1], m[3]
		if m[2] == "" {
			t.Errorf("${%s} has no default: `docker compose up` without a .env would warn and use an empty value", name)
			continue
		}
		if prev, ok := defaults[name]; ok && prev != def {
			t.Errorf("${%s} has two defaults, %q and %q", name, prev, def)
		}
		defaults[name] = def
		if v, ok := example[name]; !ok {
			t.Errorf("%s is missing from .env.example", name)
		} else if v != def {
			t.Errorf("%s: .env.example says %q, docker-compose.yml defaults to %q", name, v, def)
		}
	}
	for k := range example {
		if _, ok := defaults[k]; !ok {
			t.Errorf(".env.example lists %s, which docker-compose.yml does not use", k)
		}
	}

	withExample, defaultsOnly := loadCompose(t, ".env.example"), loadCompose(t)
	a, err := yaml.Marshal(withExample.Services)
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(defaultsOnly.Services)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the project loaded with .env.example differs from the one with the file's defaults")
	}
}

// composeServices are the services docker-compose.yml must have.
func composeServices() []string {
	names := []string{"postgres", "nats", "vault", "vault-init", "gateway", "jaeger", "prometheus"}
	for _, svc := range services {
		names = append(names, svc, svc+"-migrate")
	}
	return names
}

func TestComposeServices(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, ".env.example")
	root := repoRoot(t)
	for _, name := range composeServices() {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	for name, s := range p.Services {
		if s.Build != nil {
			if s.Build.Context != root {
				t.Errorf("%s: build context %s, want the repository root (go.work)", name, s.Build.Context)
			}
			df := s.Build.Dockerfile
			if !filepath.IsAbs(df) {
				df = filepath.Join(s.Build.Context, df)
			}
			if _, err := os.Stat(df); err != nil {
				t.Errorf("%s: Dockerfile %s: %v", name, df, err)
			}
			if s.Build.Args["VERSION"] == nil {
				t.Errorf("%s: no VERSION build arg", name)
			}
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if rel, err := filepath.Rel(root, v.Source); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s: bind mount %s from outside the repository", name, v.Source)
			} else if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: bind mount source %s: %v", name, rel, err)
			}
			if !v.ReadOnly {
				t.Errorf("%s: bind mount %s is writable", name, v.Target)
			}
		}
	}

	initSvc := p.Services["vault-init"]
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			s, m := p.Services[svc], p.Services[svc+"-migrate"]
			wantDockerfile := filepath.Join(root, "services", svc, "Dockerfile")
			for _, c := range []types.ServiceConfig{s, m} {
				if c.Build == nil || filepath.Join(c.Build.Context, c.Build.Dockerfile) != wantDockerfile && c.Build.Dockerfile != wantDockerfile {
					t.Errorf("%s: not built from %s", c.Name, wantDockerfile)
				}
				if !c.ReadOnly {
					t.Errorf("%s: root filesystem not read-only", c.Name)
				}
				if !slices.ContainsFunc(c.SecurityOpt, func(o string) bool { return o == "no-new-privileges:true" || o == "no-new-privileges" }) {
					t.Errorf("%s: no no-new-privileges", c.Name)
				}
			}
			if s.Image != m.Image {
				t.Errorf("%s runs image %s but its migrate job %s", svc, s.Image, m.Image)
			}
			if !slices.Equal(m.Command, []string{"migrate"}) || m.Restart != "no" {
				t.Errorf("%s-migrate: command %v restart %q, want [migrate] and no", svc, m.Command, m.Restart)
			}
			if len(s.Command) > 0 && !slices.Equal(s.Command, []string{"serve"}) {
				t.Errorf("%s: command %v", svc, s.Command)
			}

			// The serving role is <svc>_app with the password migrate sets.
			db, err := url.Parse(envOf(s, "DATABASE_URL"))
			if err != nil || db.User == nil {
				t.Fatalf("%s: DATABASE_URL %q", svc, envOf(s, "DATABASE_URL"))
			}
			if db.User.Username() != svc+"_app" {
				t.Errorf("%s: DATABASE_URL user %s, want %s_app (DB_APP_ROLE's default)", svc, db.User.Username(), svc)
			}
			if pw, _ := db.User.Password(); pw == "" || pw != envOf(m, "DB_APP_PASSWORD") {
				t.Errorf("%s: DATABASE_URL's password is not the DB_APP_PASSWORD %s-migrate sets", svc, svc)
			}
			admin, err := url.Parse(envOf(m, "MIGRATE_DATABASE_URL"))
			if err != nil || admin.Host != db.Host || admin.Path != db.Path {
				t.Errorf("%s: MIGRATE_DATABASE_URL and DATABASE_URL name different databases", svc)
			}
			if tok := envOf(s, "VAULT_TOKEN"); tok == "" || tok != envOf(initSvc, strings.ToUpper(svc)+"_VAULT_TOKEN") {
				t.Errorf("%s: VAULT_TOKEN is not the token vault-init creates for it", svc)
			}
			for key, want := range map[string]string{
				"NATS_URL": "nats://nats:4222", "VAULT_ADDR": "http://vault:8200",
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318",
				"IDENTITY_JWKS_URL":           "http://identity:8080/.well-known/jwks.json",
			} {
				if got := envOf(s, key); got != want {
					t.Errorf("%s: %s=%q, want %q", svc, key, got, want)
				}
			}
			for _, key := range []string{"JWT_ISSUER", "JWT_AUDIENCE", "LOG_LEVEL"} {
				if envOf(s, key) == "" {
					t.Errorf("%s: no %s", svc, key)
				}
			}

			want := map[string]string{
				svc + "-migrate": types.ServiceConditionCompletedSuccessfully,
				"nats":           types.ServiceConditionHealthy,
				"vault-init":     types.ServiceConditionCompletedSuccessfully,
			}
			for dep, cond := range want {
				if got := s.DependsOn[dep].Condition; got != cond {
					t.Errorf("%s: depends on %s with %q, want %q", svc, dep, got, cond)
				}
			}
			if got := m.DependsOn["postgres"].Condition; got != types.ServiceConditionHealthy {
				t.Errorf("%s-migrate: depends on postgres with %q, want service_healthy", svc, got)
			}
		})
	}
	if got := initSvc.DependsOn["vault"].Condition; got != types.ServiceConditionHealthy {
		t.Errorf("vault-init: depends on vault with %q", got)
	}
}

// TestComposeGateway: Caddy gets every upstream variable routes.caddy reads, the
// Caddyfile it runs with the routes beside it, and publishes :8000 and :8443.
func TestComposeGateway(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, ".env.example")
	g, ok := p.Services["gateway"]
	if !ok {
		t.Fatal("no gateway service")
	}
	placeholders := regexp.MustCompile(`\{\$([A-Z_]+_UPSTREAM)`).FindAllStringSubmatch(string(readRepoFile(t, "deploy/gateway/routes.caddy")), -1)
	if len(placeholders) != len(services) {
		t.Errorf("routes.caddy reads %d upstream variables, want %d", len(placeholders), len(services))
	}
	for _, m := range placeholders {
		svc := strings.ToLower(strings.TrimSuffix(m[1], "_UPSTREAM"))
		if got, want := envOf(g, m[1]), svc+":8080"; got != want {
			t.Errorf("gateway: %s=%q, want %q", m[1], got, want)
		}
		if g.DependsOn[svc].Condition == "" {
			t.Errorf("gateway does not depend on %s", svc)
		}
	}
	mounts := map[string]string{} // target → source relative to the repository
	for _, v := range g.Volumes {
		if v.Type == types.VolumeTypeBind {
			rel, _ := filepath.Rel(repoRoot(t), v.Source)
			mounts[v.Target] = rel
		}
	}
	cfg := ""
	for i, a := range g.Command {
		if a == "--config" && i+1 < len(g.Command) {
			cfg = g.Command[i+1]
		}
	}
	if mounts[cfg] != "deploy/gateway/Caddyfile.compose" {
		t.Errorf("gateway runs --config %q, which is not deploy/gateway/Caddyfile.compose mounted (mounts %v)", cfg, mounts)
	}
	if mounts[filepath.Join(filepath.Dir(cfg), "routes.caddy")] != "deploy/gateway/routes.caddy" {
		t.Errorf("routes.caddy is not mounted beside %s, where its import looks", cfg)
	}
	published := map[uint32]bool{}
	for _, port := range g.Ports {
		if port.Published != "" {
			published[port.Target] = true
		}
	}
	if !published[8000] || !published[8443] {
		t.Errorf("gateway publishes %v, want 8000 and 8443", published)
	}
	if !g.ReadOnly || !slices.Contains(g.SecurityOpt, "no-new-privileges:true") {
		t.Error("gateway: read-only root filesystem and no-new-privileges")
	}
}

// TestComposeStartOrder: `docker compose up` must come up in order without a
// manual step. Every long-running service has a health check or says in a
// dev.amancair.healthcheck label why it cannot; one-shot jobs (restart "no") are
// waited for with service_completed_successfully; a dependency with a health
// check is waited for with service_healthy.
func TestComposeStartOrder(t *testing.T) {
	t.Parallel()
	p := loadCompose(t, ".env.example")
	oneShot := func(s types.ServiceConfig) bool { return s.Restart == "no" }
	healthy := func(s types.ServiceConfig) bool {
		return s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 0
	}
	waitedFor := map[string]bool{}
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			ds, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown %s", name, dep)
				continue
			}
			waitedFor[dep] = true
			switch {
			case oneShot(ds) && d.Condition != types.ServiceConditionCompletedSuccessfully:
				t.Errorf("%s depends on the one-shot %s with %q: it would start before %s finished", name, dep, d.Condition, dep)
			case healthy(ds) && d.Condition != types.ServiceConditionHealthy:
				t.Errorf("%s depends on %s with %q though %s has a health check: use service_healthy", name, dep, d.Condition, dep)
			case !oneShot(ds) && !healthy(ds) && d.Condition != types.ServiceConditionStarted:
				t.Errorf("%s waits for %s with %q, which %s can never report", name, dep, d.Condition, dep)
			}
			if !d.Required {
				t.Errorf("%s: dependency on %s is optional", name, dep)
			}
		}
	}
	for name, s := range p.Services {
		switch {
		case oneShot(s):
			if !waitedFor[name] {
				t.Errorf("one-shot %s: nothing waits for it", name)
			}
		case healthy(s):
			if len(s.HealthCheck.Test) < 2 || (s.HealthCheck.Test[0] != "CMD" && s.HealthCheck.Test[0] != "CMD-SHELL") {
				t.Errorf("%s: health check test %v", name, s.HealthCheck.Test)
			}
		default:
			if why := s.Labels["dev.amancair.healthcheck"]; !strings.HasPrefix(why, "none: ") || len(why) < 20 {
				t.Errorf("%s: no health check, and no dev.amancair.healthcheck label saying why", name)
			}
		}
	}
}

// TestPrometheusScrapesServices: deploy/prometheus/prometheus.yml scrapes every
// service's ops port, and compose mounts it.
func TestPrometheusScrapesServices(t *testing.T) {
	t.Parallel()
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "deploy/prometheus/prometheus.yml"), &cfg); err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			continue
		}
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = true
			}
		}
	}
	for _, svc := range services {
		if !targets[svc+":9090"] {
			t.Errorf("Prometheus does not scrape %s:9090/metrics", svc)
		}
	}
	p := loadCompose(t, ".env.example")
	if !slices.ContainsFunc(p.Services["prometheus"].Volumes, func(v types.ServiceVolumeConfig) bool {
		return strings.HasSuffix(v.Source, "deploy/prometheus/prometheus.yml") && v.Target == "/etc/prometheus/prometheus.yml"
	}) {
		t.Error("compose's prometheus does not mount deploy/prometheus/prometheus.yml")
	}
}

// TestVaultPolicies: each service's policy reaches only its own transit keys,
// and never with sudo, delete or list.
func TestVaultPolicies(t *testing.T) {
	t.Parallel()
	pathRe := regexp.MustCompile(`(?m)^\s*path\s+"([^"]+)"\s*\{([^}]*)\}`)
	capsRe := regexp.MustCompile(`capabilities\s*=\s*\[([^\]]*)\]`)
	files, err := filepath.Glob(repoPath(t, "deploy/vault/policies/*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(services) {
		t.Errorf("%d policies, want one per service", len(files))
	}
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			t.Parallel()
			b := readRepoFile(t, "deploy/vault/policies/"+svc+".hcl")
			blocks := pathRe.FindAllStringSubmatch(string(b), -1)
			if len(blocks) == 0 {
				t.Fatal("no path blocks")
			}
			// Exact paths only: a wildcard would also reach a key's config,
			// export, backup, restore and trim endpoints.
			allowed := regexp.MustCompile(`^transit/(keys|sign|hmac|decrypt|rewrap|datakey/plaintext)/` + svc + `-[a-z]+$`)
			for _, blk := range blocks {
				path := blk[1]
				if !allowed.MatchString(path) {
					t.Errorf("path %q is not an exact path on a transit key named %s-…", path, svc)
				}
				caps := capsRe.FindStringSubmatch(blk[2])
				if caps == nil {
					t.Errorf("path %q without capabilities", path)
					continue
				}
				for _, c := range []string{"sudo", "delete", "list", "patch"} {
					if strings.Contains(caps[1], `"`+c+`"`) {
						t.Errorf("path %q grants %s", path, c)
					}
				}
			}
		})
	}
}
