package check

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// skaffold runs the pinned skaffold in the repository root, offline and
// non-interactive, with bin/ first on PATH (it renders with bin/helm) and a
// throwaway HOME for its global config.
func skaffold(t *testing.T, args ...string) []byte {
	t.Helper()
	bin(t, "helm")
	home := t.TempDir()
	// Opt out of skaffold's usage metrics and prompts in the throwaway global config.
	global := "global:\n  collect-metrics: false\n  survey:\n    disable-prompt: true\nkubeContexts: []\n"
	if err := os.MkdirAll(filepath.Join(home, ".skaffold"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".skaffold", "config"), []byte(global), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOME=" + home,
		"PATH=" + repoPath(t, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"SKAFFOLD_UPDATE_CHECK=false",
		"SKAFFOLD_INTERACTIVE=false",
	}
	return run(t, env, bin(t, "skaffold"), append(args, "--interactive=false", "--update-check=false")...)
}

// skaffoldConfig is the part of the effective skaffold.yaml the checks read.
type skaffoldConfig struct {
	Build struct {
		Artifacts []struct {
			Image   string `json:"image"`
			Context string `json:"context"`
			Docker  *struct {
				Dockerfile string            `json:"dockerfile"`
				BuildArgs  map[string]string `json:"buildArgs"`
			} `json:"docker"`
		} `json:"artifacts"`
	} `json:"build"`
	Deploy struct {
		Helm *struct {
			Releases []struct {
				Name              string            `json:"name"`
				ChartPath         string            `json:"chartPath"`
				SetValueTemplates map[string]string `json:"setValueTemplates"`
				SetValues         map[string]string `json:"setValues"`
			} `json:"releases"`
		} `json:"helm"`
	} `json:"deploy"`
	PortForward []struct {
		ResourceType string `json:"resourceType"`
		ResourceName string `json:"resourceName"`
		Port         int    `json:"port"`
		LocalPort    int    `json:"localPort"`
	} `json:"portForward"`
}

// skaffoldProfiles are the profiles checked: the default and dev.
var skaffoldProfiles = []string{"", "dev"}

func profileArgs(profile string) []string {
	if profile == "" {
		return nil
	}
	return []string{"--profile", profile}
}

func profileName(profile string) string {
	if profile == "" {
		return "default"
	}
	return profile
}

// TestSkaffoldDiagnose: skaffold parses skaffold.yaml (refusing unknown fields)
// and its effective configuration builds each service from its Dockerfile with
// VERSION, deploys the chart with each image, and forwards identity to :8000.
func TestSkaffoldDiagnose(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, profile := range skaffoldProfiles {
		t.Run(profileName(profile), func(t *testing.T) {
			t.Parallel()
			out := skaffold(t, append([]string{"diagnose", "--yaml-only"}, profileArgs(profile)...)...)
			var cfg skaffoldConfig
			if err := yaml.Unmarshal(out, &cfg); err != nil {
				t.Fatalf("skaffold diagnose output: %v\n%s", err, out)
			}
			var images []string
			for _, a := range cfg.Build.Artifacts {
				images = append(images, a.Image)
				svc, ok := strings.CutPrefix(a.Image, "amancair/")
				if !ok || !slices.Contains(services, svc) {
					t.Errorf("artifact %s is not one of the services", a.Image)
					continue
				}
				ctx := a.Context
				if !filepath.IsAbs(ctx) {
					ctx = filepath.Join(root, ctx)
				}
				if filepath.Clean(ctx) != root {
					t.Errorf("%s: context %s, want the repository root", svc, a.Context)
				}
				if a.Docker == nil || filepath.ToSlash(a.Docker.Dockerfile) != "services/"+svc+"/Dockerfile" {
					t.Errorf("%s: not built with services/%s/Dockerfile", svc, svc)
				} else if _, err := os.Stat(filepath.Join(ctx, a.Docker.Dockerfile)); err != nil {
					t.Errorf("%s: %v", svc, err)
				}
				if a.Docker != nil && a.Docker.BuildArgs["VERSION"] == "" {
					t.Errorf("%s: no VERSION build arg", svc)
				}
			}
			if len(images) != len(services) {
				t.Errorf("artifacts %v, want one per service", images)
			}
			if cfg.Deploy.Helm == nil || len(cfg.Deploy.Helm.Releases) != 1 {
				t.Fatal("want one helm release")
			}
			rel := cfg.Deploy.Helm.Releases[0]
			if rel.Name != releaseName || filepath.Clean(rel.ChartPath) != repoPath(t, chartDir) {
				t.Errorf("release %s of %s, want %s of %s", rel.Name, rel.ChartPath, releaseName, chartDir)
			}
			for _, svc := range services {
				key := "amancair_" + svc
				if !strings.Contains(rel.SetValueTemplates["services."+svc+".image.repository"], "IMAGE_REPO_"+key) ||
					!strings.Contains(rel.SetValueTemplates["services."+svc+".image.tag"], "IMAGE_TAG_"+key) {
					t.Errorf("%s: the chart does not get the image skaffold built", svc)
				}
			}
			forwards := map[int]string{}
			for _, pf := range cfg.PortForward {
				if pf.ResourceType != "service" || pf.Port != 8080 {
					t.Errorf("port-forward %+v: want a service's API port 8080", pf)
				}
				forwards[pf.LocalPort] = pf.ResourceName
			}
			if forwards[8000] != releaseName+"-identity" {
				t.Errorf("localhost:8000 forwards to %q, want the identity service", forwards[8000])
			}
		})
	}
}

// TestSkaffoldRender renders the manifests as skaffold deploys them, offline
// with the tags it would build: strict decoding, the built images in every
// Deployment and Job, and the dev profile's one replica and debug logs.
func TestSkaffoldRender(t *testing.T) {
	t.Parallel()
	for _, profile := range skaffoldProfiles {
		t.Run(profileName(profile), func(t *testing.T) {
			t.Parallel()
			out := skaffold(t, append([]string{"render", "--offline=true", "--digest-source=tag"}, profileArgs(profile)...)...)
			objs, err := decodeStrict(out)
			if err != nil {
				t.Fatalf("skaffold render: %v", err)
			}
			for _, svc := range services {
				image := regexp.MustCompile(`^amancair/` + svc + `:[\w][\w.-]*$`)
				dep := findNamed[appsv1.Deployment](objs, "Deployment", releaseName+"-"+svc)
				if dep == nil {
					t.Errorf("no Deployment for %s", svc)
					continue
				}
				c := dep.Spec.Template.Spec.Containers[0]
				if !image.MatchString(c.Image) {
					t.Errorf("%s runs %q, not the image skaffold builds", svc, c.Image)
				}
				logLevel := ""
				for _, e := range c.Env {
					if e.Name == "LOG_LEVEL" {
						logLevel = e.Value
					}
				}
				hpa := findNamed[autoscalingv2.HorizontalPodAutoscaler](objs, "HorizontalPodAutoscaler", releaseName+"-"+svc) != nil
				switch profile {
				case "dev":
					if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 || hpa {
						t.Errorf("dev: %s should run one replica without autoscaling", svc)
					}
					if logLevel != "debug" {
						t.Errorf("dev: %s LOG_LEVEL=%q, want debug", svc, logLevel)
					}
				default:
					if !hpa || logLevel != "info" {
						t.Errorf("default: %s should autoscale and log at info (LOG_LEVEL=%q)", svc, logLevel)
					}
				}
				if findNamed[corev1.Service](objs, "Service", releaseName+"-"+svc) == nil {
					t.Errorf("no Service %s-%s for the port-forward", releaseName, svc)
				}
			}
			for _, o := range objs {
				if o.Kind == "Job" && !regexp.MustCompile(`image: "?amancair/\w+:[\w][\w.-]*"?\n`).Match(o.Raw) {
					t.Errorf("Job %s does not run a skaffold-built image", o.Name)
				}
			}
		})
	}
}
