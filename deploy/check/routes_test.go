package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// contractRoute is one of the public API's path prefixes (the contract,
// shared/api-contract.md) and the service behind it.
type contractRoute struct {
	path    string
	exact   bool   // only this path, not below it
	service string // the service answering it
	// bare: the path itself, without a trailing slash, must be routed too. /auth
	// has no endpoint of its own: the gateway answers 404 there itself, while an
	// Ingress prefix passes it to identity, which answers 404 as well.
	bare bool
}

// contract lists every path prefix the gateway, the Ingress and the HTTPRoute
// expose, and nothing else may be exposed.
var contract = []contractRoute{
	{path: "/users", service: "identity", bare: true},
	{path: "/auth", service: "identity"},
	{path: "/.well-known/jwks.json", exact: true, service: "identity", bare: true},
	{path: "/devices", service: "device", bare: true},
	{path: "/emergency", service: "contacts", bare: true},
	{path: "/audit", service: "audit", bare: true},
}

// unrouted are paths no router may pass to a service: the ops endpoints, the
// root, and near misses of the contract's prefixes.
var unrouted = []string{
	"/", "/metrics", "/healthz", "/readyz", "/debug/pprof/", "/openapi.json", "/docs",
	"/admin", "/v1/users/", "/.well-known/openid-configuration", "/.well-known/jwks.json/x",
	"/.well-known/jwks", "/usersx", "/users.json", "/authx", "/devices2", "/emergency-contacts",
	"/auditor", "/identity/", "/device/", "/contacts/",
}

// router answers which service a request path reaches ("" for none).
type router func(path string) (service string)

// probes are request paths and the service each must reach: every path of each
// service's OpenAPI document, every endpoint of the contract document (when it
// is beside the repository), paths below each prefix, and the unrouted paths.
func probes(t *testing.T) map[string]string {
	t.Helper()
	want := map[string]string{}
	add := func(path, svc string) {
		if prev, ok := want[path]; ok && prev != svc {
			t.Fatalf("probe %s wanted by both %s and %s", path, prev, svc)
		}
		want[path] = svc
	}
	for _, r := range contract {
		if r.bare {
			add(r.path, r.service)
		}
		if !r.exact {
			add(r.path+"/", r.service)
			add(r.path+"/1", r.service)
			add(r.path+"/1/2/x", r.service)
		}
	}
	params := regexp.MustCompile(`\{[^}]+\}`)
	for _, svc := range services {
		var doc struct {
			Paths map[string]any `json:"paths"`
		}
		if err := yaml.Unmarshal(readRepoFile(t, "services/"+svc+"/internal/httpapi/openapi.yaml"), &doc); err != nil {
			t.Fatalf("%s openapi.yaml: %v", svc, err)
		}
		if len(doc.Paths) == 0 {
			t.Fatalf("%s openapi.yaml has no paths", svc)
		}
		for p := range doc.Paths {
			add(params.ReplaceAllString(p, "1"), svc)
		}
	}
	for p, svc := range contractDocPaths(t) {
		add(p, svc)
	}
	for _, p := range unrouted {
		add(p, "")
	}
	return want
}

// contractDocPaths reads the endpoints of shared/api-contract.md, beside the
// repository, with the service of the section each is in.
func contractDocPaths(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "..", "shared", "api-contract.md"))
	if err != nil {
		t.Logf("contract document not beside the repository (%v); checking the built-in contract table only", err)
		return nil
	}
	sections := map[string]string{"Identity": "identity", "Device": "device", "Contacts": "contacts", "Audit": "audit"}
	endpoint := regexp.MustCompile("`(?:GET|POST|PUT|PATCH|DELETE) (/[^`?\\s]*)")
	params := regexp.MustCompile(`\{[^}]+\}`)
	paths := map[string]string{}
	svc := ""
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			name, _, _ := strings.Cut(h, " ")
			svc = sections[name]
			continue
		}
		if svc == "" || !strings.HasPrefix(line, "### ") {
			continue
		}
		for _, m := range endpoint.FindAllStringSubmatch(line, -1) {
			paths[params.ReplaceAllString(m[1], "1")] = svc
		}
	}
	if len(paths) < 10 {
		t.Fatalf("found only %d endpoints in the contract document; has its format changed?", len(paths))
	}
	return paths
}

// checkRouter probes r with every probe path.
func checkRouter(t *testing.T, r router) {
	t.Helper()
	want := probes(t)
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if got := r(p); got != want[p] {
			t.Errorf("%s reaches %q, want %q", p, got, want[p])
		}
	}
}

// TestGatewayRoutes adapts the Caddyfiles with the caddy binary and checks that
// every site of each routes exactly the contract's paths, each to its service,
// and answers everything else with its own 404.
func TestGatewayRoutes(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"deploy/gateway/Caddyfile", "deploy/gateway/Caddyfile.compose"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			env := []string{"GATEWAY_PORT=18000", "GATEWAY_TLS_PORT=18443", "GATEWAY_BIND=127.0.0.1"}
			for _, svc := range services {
				env = append(env, strings.ToUpper(svc)+"_UPSTREAM="+svc+".upstream:8080")
			}
			out := run(t, env, bin(t, "caddy"), "adapt", "--config", file, "--adapter", "caddyfile")
			var cfg struct {
				Apps struct {
					HTTP struct {
						Servers map[string]struct {
							Listen []string     `json:"listen"`
							Routes []caddyRoute `json:"routes"`
						} `json:"servers"`
					} `json:"http"`
				} `json:"apps"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatalf("caddy adapt output: %v", err)
			}
			if len(cfg.Apps.HTTP.Servers) == 0 {
				t.Fatal("no HTTP servers")
			}
			for name, srv := range cfg.Apps.HTTP.Servers {
				t.Run(strings.Join(srv.Listen, ","), func(t *testing.T) {
					_ = name
					declared := map[string][]string{}
					collectCaddyPaths(t, srv.Routes, declared)
					for _, svc := range services {
						var want []string
						for _, r := range contract {
							if r.service != svc {
								continue
							}
							if r.bare {
								want = append(want, r.path)
							}
							if !r.exact {
								want = append(want, r.path+"/*")
							}
						}
						got := declared[svc+".upstream:8080"]
						slices.Sort(want)
						slices.Sort(got)
						if !slices.Equal(got, want) {
							t.Errorf("%s: path matchers %v, want %v", svc, got, want)
						}
						delete(declared, svc+".upstream:8080")
					}
					for upstream, paths := range declared {
						t.Errorf("paths %v go to unexpected upstream %s", paths, upstream)
					}
					checkRouter(t, func(p string) string {
						res := evalCaddy(t, srv.Routes, p)
						if res.status == 404 {
							return ""
						}
						svc, ok := strings.CutSuffix(res.upstream, ".upstream:8080")
						if !ok {
							t.Errorf("%s: reaches %q (status %d), neither a service nor the 404", p, res.upstream, res.status)
						}
						return svc
					})
				})
			}
		})
	}
}

// caddyRoute is the part of Caddy's JSON route the checks read.
type caddyRoute struct {
	Match    []map[string]json.RawMessage `json:"match"`
	Handle   []caddyHandler               `json:"handle"`
	Terminal bool                         `json:"terminal"`
}

type caddyHandler struct {
	Handler    string       `json:"handler"`
	Routes     []caddyRoute `json:"routes"`
	StatusCode json.Number  `json:"status_code"`
	Upstreams  []struct {
		Dial string `json:"dial"`
	} `json:"upstreams"`
}

type caddyResult struct {
	upstream string
	status   int
	done     bool
}

// evalCaddy follows Caddy's routing for a request path: routes in order, each
// whose matchers match runs its handlers; reverse_proxy and static_response end
// the request. Host matchers count as matching (the probes use the site's host);
// any other matcher fails the test rather than being guessed at.
func evalCaddy(t *testing.T, routes []caddyRoute, path string) caddyResult {
	t.Helper()
	for _, r := range routes {
		if !caddyMatches(t, r.Match, path) {
			continue
		}
		for _, h := range r.Handle {
			switch h.Handler {
			case "subroute":
				if res := evalCaddy(t, h.Routes, path); res.done {
					return res
				}
			case "reverse_proxy":
				if len(h.Upstreams) != 1 {
					t.Fatalf("reverse_proxy with %d upstreams", len(h.Upstreams))
				}
				return caddyResult{upstream: h.Upstreams[0].Dial, done: true}
			case "static_response":
				status := 200
				if h.StatusCode != "" {
					n, _ := h.StatusCode.Int64()
					status = int(n)
				}
				return caddyResult{status: status, done: true}
			}
		}
		if r.Terminal {
			return caddyResult{done: true}
		}
	}
	return caddyResult{}
}

func caddyMatches(t *testing.T, sets []map[string]json.RawMessage, path string) bool {
	t.Helper()
	if len(sets) == 0 {
		return true
	}
	for _, set := range sets { // sets are ORed, matchers in a set ANDed
		ok := true
		for kind, raw := range set {
			switch kind {
			case "host":
			case "path":
				var patterns []string
				if err := json.Unmarshal(raw, &patterns); err != nil {
					t.Fatal(err)
				}
				ok = ok && slices.ContainsFunc(patterns, func(p string) bool { return caddyPathMatch(t, p, path) })
			default:
				t.Fatalf("matcher %q: the route check does not model it", kind)
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// caddyPathMatch is Caddy's path matcher for the two forms the gateway uses:
// exact, and a prefix ending in *; both case-insensitive.
func caddyPathMatch(t *testing.T, pattern, path string) bool {
	t.Helper()
	pattern, path = strings.ToLower(pattern), strings.ToLower(path)
	switch star := strings.Index(pattern, "*"); {
	case star < 0:
		return path == pattern
	case star == len(pattern)-1:
		return strings.HasPrefix(path, pattern[:star])
	default:
		t.Fatalf("path pattern %q: the route check models only exact paths and trailing *", pattern)
		return false
	}
}

// collectCaddyPaths maps each reverse_proxy upstream to the path patterns of the
// routes leading to it.
func collectCaddyPaths(t *testing.T, routes []caddyRoute, out map[string][]string) {
	t.Helper()
	for _, r := range routes {
		var paths []string
		for _, set := range r.Match {
			if raw, ok := set["path"]; ok {
				var ps []string
				if err := json.Unmarshal(raw, &ps); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, ps...)
			}
		}
		for _, h := range r.Handle {
			for _, u := range proxiesIn(h) {
				out[u] = append(out[u], paths...)
			}
			if h.Handler == "subroute" && len(paths) == 0 {
				collectCaddyPaths(t, h.Routes, out)
			}
		}
	}
}

// proxiesIn lists the upstreams h proxies to, directly or in its subroutes.
func proxiesIn(h caddyHandler) []string {
	var ups []string
	if h.Handler == "reverse_proxy" {
		for _, u := range h.Upstreams {
			ups = append(ups, u.Dial)
		}
	}
	if h.Handler == "subroute" {
		for _, r := range h.Routes {
			if len(r.Match) > 0 {
				continue // collected with its own matchers
			}
			for _, hh := range r.Handle {
				ups = append(ups, proxiesIn(hh)...)
			}
		}
	}
	return ups
}

// k8sRoute is one path rule of an Ingress or HTTPRoute.
type k8sRoute struct {
	path    string
	exact   bool
	service string
}

// wantK8sRoutes are the contract's prefixes as Ingress/HTTPRoute rules.
func wantK8sRoutes() []k8sRoute {
	var want []k8sRoute
	for _, r := range contract {
		want = append(want, k8sRoute{path: r.path, exact: r.exact, service: r.service})
	}
	return want
}

// routeK8s is Kubernetes' and Gateway API's path matching: an exact match wins,
// else the longest prefix, matched element by element (/users matches /users
// and /users/x, not /usersx).
func routeK8s(rules []k8sRoute, path string) string {
	best, bestLen, bestExact := "", -1, false
	for _, r := range rules {
		var ok bool
		if r.exact {
			ok = path == r.path
		} else {
			prefix := strings.TrimSuffix(r.path, "/")
			ok = prefix == "" || path == prefix || strings.HasPrefix(path, prefix+"/")
		}
		if !ok {
			continue
		}
		if n := len(r.path); n > bestLen || (n == bestLen && r.exact && !bestExact) {
			best, bestLen, bestExact = r.service, n, r.exact
		}
	}
	return best
}

func sortK8sRoutes(rs []k8sRoute) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].path < rs[j].path })
}

// TestIngressRoutes checks the rendered Ingress exposes exactly the contract's
// paths, each to its service's API port.
func TestIngressRoutes(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			ings := find[networkingv1.Ingress](renderDecoded(t, vs), "Ingress")
			if len(ings) == 0 {
				return // this value set routes by HTTPRoute
			}
			ing := ings[0]
			if ing.Spec.DefaultBackend != nil {
				t.Error("the Ingress has a default backend: everything outside the contract would reach it")
			}
			if len(ing.Spec.TLS) == 0 {
				t.Error("the Ingress has no TLS")
			}
			if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName == "" {
				t.Error("no ingressClassName")
			}
			var got []k8sRoute
			for _, rule := range ing.Spec.Rules {
				if rule.HTTP == nil {
					continue
				}
				for _, p := range rule.HTTP.Paths {
					svc, ok := strings.CutPrefix(p.Backend.Service.Name, releaseName+"-")
					if !ok || !slices.Contains(services, svc) {
						t.Errorf("%s goes to Service %q", p.Path, p.Backend.Service.Name)
					}
					if p.Backend.Service.Port.Name != "http" && p.Backend.Service.Port.Number != 8080 {
						t.Errorf("%s goes to port %v, not the API port", p.Path, p.Backend.Service.Port)
					}
					if p.PathType == nil || (*p.PathType != networkingv1.PathTypePrefix && *p.PathType != networkingv1.PathTypeExact) {
						t.Errorf("%s: pathType must be Prefix or Exact (ImplementationSpecific differs by controller)", p.Path)
						continue
					}
					got = append(got, k8sRoute{path: p.Path, exact: *p.PathType == networkingv1.PathTypeExact, service: svc})
				}
			}
			want := wantK8sRoutes()
			sortK8sRoutes(got)
			sortK8sRoutes(want)
			if !slices.Equal(got, want) {
				t.Errorf("Ingress paths\n got %v\nwant %v", got, want)
			}
			checkRouter(t, func(p string) string { return routeK8s(got, p) })
		})
	}
}

// TestHTTPRouteRoutes checks the rendered HTTPRoute likewise, and that it sends
// HSTS.
func TestHTTPRouteRoutes(t *testing.T) {
	t.Parallel()
	rendered := 0
	for _, vs := range valueSets {
		routes := find[gatewayv1.HTTPRoute](renderDecoded(t, vs), "HTTPRoute")
		if len(routes) == 0 {
			continue
		}
		rendered++
		t.Run(vs.name, func(t *testing.T) {
			hr := routes[0]
			if len(hr.Spec.ParentRefs) == 0 {
				t.Error("HTTPRoute attached to no Gateway")
			}
			var got []k8sRoute
			for _, rule := range hr.Spec.Rules {
				if len(rule.BackendRefs) != 1 {
					t.Errorf("rule with %d backends", len(rule.BackendRefs))
					continue
				}
				ref := rule.BackendRefs[0]
				svc, ok := strings.CutPrefix(string(ref.Name), releaseName+"-")
				if !ok || !slices.Contains(services, svc) || ref.Port == nil || *ref.Port != 8080 {
					t.Errorf("rule goes to %s port %v", ref.Name, ref.Port)
				}
				hsts := slices.ContainsFunc(rule.Filters, func(f gatewayv1.HTTPRouteFilter) bool {
					return f.Type == gatewayv1.HTTPRouteFilterResponseHeaderModifier && f.ResponseHeaderModifier != nil &&
						slices.ContainsFunc(f.ResponseHeaderModifier.Set, func(h gatewayv1.HTTPHeader) bool {
							return strings.EqualFold(string(h.Name), "Strict-Transport-Security") && strings.Contains(h.Value, "max-age=")
						})
				})
				if !hsts {
					t.Errorf("rule for %s does not set Strict-Transport-Security", svc)
				}
				for _, m := range rule.Matches {
					if m.Path == nil || m.Path.Type == nil || m.Path.Value == nil {
						t.Errorf("%s: a match without a path matches every path", svc)
						continue
					}
					if len(m.Headers) > 0 || len(m.QueryParams) > 0 || m.Method != nil {
						t.Errorf("%s: match on more than the path", svc)
					}
					switch *m.Path.Type {
					case gatewayv1.PathMatchPathPrefix, gatewayv1.PathMatchExact:
					default:
						t.Errorf("%s: path match type %s", *m.Path.Value, *m.Path.Type)
					}
					got = append(got, k8sRoute{path: *m.Path.Value, exact: *m.Path.Type == gatewayv1.PathMatchExact, service: svc})
				}
			}
			want := wantK8sRoutes()
			sortK8sRoutes(got)
			sortK8sRoutes(want)
			if !slices.Equal(got, want) {
				t.Errorf("HTTPRoute paths\n got %v\nwant %v", got, want)
			}
			checkRouter(t, func(p string) string { return routeK8s(got, p) })
		})
	}
	if rendered == 0 {
		t.Fatal("no value set renders an HTTPRoute")
	}
}

// TestRouteModels checks the matchers the route checks rely on.
func TestRouteModels(t *testing.T) {
	t.Parallel()
	rules := []k8sRoute{{path: "/users", service: "a"}, {path: "/users/me", exact: true, service: "b"}, {path: "/users/me", service: "c"}}
	for path, want := range map[string]string{"/users": "a", "/users/": "a", "/usersx": "", "/users/me": "b", "/users/me/x": "c", "/": ""} {
		if got := routeK8s(rules, path); got != want {
			t.Errorf("routeK8s(%s) = %q, want %q", path, got, want)
		}
	}
	for _, tt := range []struct {
		pattern, path string
		want          bool
	}{{"/users", "/users", true}, {"/users", "/users/", false}, {"/users/*", "/users/", true}, {"/users/*", "/Users/1", true}, {"/users/*", "/users", false}} {
		if got := caddyPathMatch(t, tt.pattern, tt.path); got != tt.want {
			t.Errorf("caddyPathMatch(%s, %s) = %v", tt.pattern, tt.path, got)
		}
	}
}
