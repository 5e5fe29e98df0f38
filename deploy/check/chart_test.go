package check

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// secretEnv are variables that must come from a Secret reference, never from a
// value written into the chart or its values.
var secretEnv = []string{"DATABASE_URL", "MIGRATE_DATABASE_URL", "DB_APP_PASSWORD", "VAULT_TOKEN"}

// TestChartInvariants checks, for every value set, what the deployment relies on
// beyond what the API types and kube-score check: probes on the ops port,
// hardened containers, secrets by reference, Vault identity, migration hooks,
// default-deny network policy and disruption budgets that still let nodes drain.
func TestChartInvariants(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			objs := renderDecoded(t, vs)
			for _, svc := range services {
				name := releaseName + "-" + svc
				dep := findNamed[appsv1.Deployment](objs, "Deployment", name)
				if dep == nil {
					t.Errorf("no Deployment %s", name)
					continue
				}
				checkDeployment(t, svc, dep)
				checkMigrationJob(t, svc, findNamed[batchv1.Job](objs, "Job", name+"-migrate"),
					findNamed[corev1.ServiceAccount](objs, "ServiceAccount", name+"-migrate"))
				if sa := findNamed[corev1.ServiceAccount](objs, "ServiceAccount", name); sa == nil {
					t.Errorf("%s: no ServiceAccount", svc)
				} else if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
					t.Errorf("%s: ServiceAccount mounts its token into every pod; only the pods needing it should", svc)
				}
				checkService(t, svc, findNamed[corev1.Service](objs, "Service", name))
				checkScaling(t, svc, dep, findNamed[policyv1.PodDisruptionBudget](objs, "PodDisruptionBudget", name),
					findNamed[autoscalingv2.HorizontalPodAutoscaler](objs, "HorizontalPodAutoscaler", name))
			}
			checkNetworkPolicies(t, find[networkingv1.NetworkPolicy](objs, "NetworkPolicy"))
		})
	}
}

func checkDeployment(t *testing.T, svc string, dep *appsv1.Deployment) {
	t.Helper()
	pod := dep.Spec.Template.Spec
	checkPodSecurity(t, svc, pod)
	if len(pod.TopologySpreadConstraints) == 0 {
		t.Errorf("%s: no topologySpreadConstraints", svc)
	}
	if pod.ServiceAccountName != releaseName+"-"+svc {
		t.Errorf("%s: serviceAccountName %q", svc, pod.ServiceAccountName)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", svc, len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("%s: args %v, want [serve]", svc, c.Args)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != 8080 || ports["ops"] != 9090 {
		t.Errorf("%s: container ports %v, want http 8080 and ops 9090", svc, ports)
	}
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", svc, p.what)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || (g.Port != intstr.FromString("ops") && g.Port != intstr.FromInt32(9090)) {
			t.Errorf("%s: %s probe %s on port %s, want %s on the ops port 9090", svc, p.what, g.Path, g.Port.String(), p.path)
		}
	}
	env := envMap(t, svc, c.Env)
	method := env["VAULT_AUTH_METHOD"]
	switch method {
	case "kubernetes":
		if env["VAULT_K8S_ROLE"] == "" || env["VAULT_K8S_MOUNT"] == "" {
			t.Errorf("%s: Kubernetes auth without VAULT_K8S_ROLE and VAULT_K8S_MOUNT", svc)
		}
		if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
			t.Errorf("%s: Vault's Kubernetes auth needs the ServiceAccount token mounted", svc)
		}
	case "token":
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: token mounted though Vault auth is by token", svc)
		}
	default:
		t.Errorf("%s: VAULT_AUTH_METHOD %q", svc, method)
	}
	for _, k := range []string{"DATABASE_URL", "NATS_URL", "VAULT_ADDR", "HTTP_ADDR", "OPS_ADDR", "IDENTITY_JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE"} {
		if _, ok := env[k]; !ok {
			t.Errorf("%s: no %s in the environment", svc, k)
		}
	}
	if !strings.HasSuffix(env["IDENTITY_JWKS_URL"], "/.well-known/jwks.json") {
		t.Errorf("%s: IDENTITY_JWKS_URL %q", svc, env["IDENTITY_JWKS_URL"])
	}
}

func checkMigrationJob(t *testing.T, svc string, job *batchv1.Job, sa *corev1.ServiceAccount) {
	t.Helper()
	if job == nil {
		t.Errorf("%s: no migration Job", svc)
		return
	}
	hooks := strings.Split(job.Annotations["helm.sh/hook"], ",")
	if !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") {
		t.Errorf("%s: migration Job hooks %q, want pre-install and pre-upgrade", svc, job.Annotations["helm.sh/hook"])
	}
	pod := job.Spec.Template.Spec
	checkPodSecurity(t, svc+"-migrate", pod)
	if pod.ServiceAccountName != "" && !createdBefore(sa, pod.ServiceAccountName, job) {
		// Hooks run before the chart's ordinary resources exist: an account the
		// Job uses must be a hook of its own, with a lower weight.
		t.Errorf("%s: migration Job uses ServiceAccount %q, which a pre-install hook cannot rely on", svc, pod.ServiceAccountName)
	}
	if len(pod.Containers) != 1 || !slices.Equal(pod.Containers[0].Args, []string{"migrate"}) {
		t.Errorf("%s: migration Job does not run `migrate`", svc)
		return
	}
	env := envMap(t, svc+"-migrate", pod.Containers[0].Env)
	if _, ok := env["MIGRATE_DATABASE_URL"]; !ok {
		t.Errorf("%s: migration Job without MIGRATE_DATABASE_URL", svc)
	}
}

// checkPodSecurity requires the hardening the images are built for.
func checkPodSecurity(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext must set runAsNonRoot and seccompProfile RuntimeDefault", what)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s/%s: no securityContext", what, c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s/%s: root filesystem writable", what, c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s/%s: allowPrivilegeEscalation not false", what, c.Name)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s/%s: capabilities must drop ALL and add none", what, c.Name)
		case sc.RunAsUser == nil || *sc.RunAsUser == 0:
			t.Errorf("%s/%s: runAsUser must be the image's nonroot uid", what, c.Name)
		}
		if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
			t.Errorf("%s/%s: no memory limit or CPU request", what, c.Name)
		}
	}
}

// envMap returns a container's plain values, failing on secrets given inline.
func envMap(t *testing.T, what string, env []corev1.EnvVar) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range env {
		if slices.Contains(secretEnv, e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s: %s must come from a secretKeyRef, not a value", what, e.Name)
		}
		if _, dup := m[e.Name]; dup {
			t.Errorf("%s: %s set twice", what, e.Name)
		}
		m[e.Name] = e.Value
	}
	return m
}

func checkService(t *testing.T, svc string, s *corev1.Service) {
	t.Helper()
	if s == nil {
		t.Errorf("%s: no Service", svc)
		return
	}
	if s.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("%s: Service type %s, want ClusterIP (the API is reached through the Ingress)", svc, s.Spec.Type)
	}
	if s.Spec.Selector["app.kubernetes.io/name"] != svc {
		t.Errorf("%s: Service selects %v", svc, s.Spec.Selector)
	}
}

// checkScaling: a PDB must never demand more pods than the Deployment can have
// at its minimum, or node drains block forever.
func checkScaling(t *testing.T, svc string, dep *appsv1.Deployment, pdb *policyv1.PodDisruptionBudget, hpa *autoscalingv2.HorizontalPodAutoscaler) {
	t.Helper()
	if pdb == nil {
		t.Errorf("%s: no PodDisruptionBudget", svc)
		return
	}
	minReplicas := int32(1)
	switch {
	case hpa != nil:
		if dep.Spec.Replicas != nil {
			t.Errorf("%s: Deployment sets replicas though an HPA scales it", svc)
		}
		if hpa.Spec.MinReplicas != nil {
			minReplicas = *hpa.Spec.MinReplicas
		}
		if hpa.Spec.MaxReplicas < minReplicas {
			t.Errorf("%s: HPA maxReplicas %d below minReplicas %d", svc, hpa.Spec.MaxReplicas, minReplicas)
		}
		if hpa.Spec.ScaleTargetRef.Name != dep.Name || hpa.Spec.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("%s: HPA targets %s %s", svc, hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name)
		}
	case dep.Spec.Replicas != nil:
		minReplicas = *dep.Spec.Replicas
	}
	if m := pdb.Spec.MinAvailable; m != nil {
		if m.Type == intstr.Int && m.IntVal >= minReplicas {
			t.Errorf("%s: PDB minAvailable %d with as few as %d replicas: no pod could ever be evicted", svc, m.IntVal, minReplicas)
		}
	} else if pdb.Spec.MaxUnavailable == nil {
		t.Errorf("%s: PDB sets neither minAvailable nor maxUnavailable", svc)
	}
}

// checkNetworkPolicies requires a default deny for all the release's pods and
// lets no ingress rule open a port other than the API's and the ops port.
func checkNetworkPolicies(t *testing.T, nps []*networkingv1.NetworkPolicy) {
	t.Helper()
	var deny bool
	for _, np := range nps {
		sel := np.Spec.PodSelector.MatchLabels
		if len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
			slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) &&
			slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) &&
			sel["app.kubernetes.io/instance"] == releaseName && sel["app.kubernetes.io/component"] == "" && sel["app.kubernetes.io/name"] == "" {
			deny = true
		}
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s admits traffic from anywhere", np.Name)
			}
			if len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s admits every port", np.Name)
			}
			for _, p := range rule.Ports {
				if p.Port == nil || (p.Port.IntVal != 8080 && p.Port.IntVal != 9090) {
					t.Errorf("NetworkPolicy %s opens port %v", np.Name, p.Port)
				}
			}
		}
		for _, rule := range np.Spec.Egress {
			if len(rule.To) == 0 || len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s allows egress to anywhere or on any port", np.Name)
			}
		}
	}
	if !deny {
		t.Error("no default-deny NetworkPolicy (ingress and egress) for all the release's pods")
	}
}

// TestKubeScore runs kube-score offline on every value set's manifests: no
// CRITICAL finding may remain. The chart silences a finding only with a
// kube-score/ignore annotation and a comment saying why.
func TestKubeScore(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			findings := kubeScore(t, renderChart(t, vs))
			for _, f := range findings {
				if strings.HasPrefix(f, "[CRITICAL]") {
					t.Error(f)
				} else {
					t.Log(f)
				}
			}
		})
	}
}

// kubeScore returns kube-score's CRITICAL and WARNING lines for manifests.
func kubeScore(t *testing.T, manifests []byte) []string {
	t.Helper()
	cmd := bin(t, "kube-score")
	args := []string{"score", "--output-format", "ci",
		"--enable-optional-test", "container-seccomp-profile",
		"--enable-optional-test", "container-ports-check",
		"-"}
	out, stderr, err := runStdin(t, manifests, cmd, args...)
	var findings []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "[CRITICAL]") || strings.HasPrefix(line, "[WARNING]") {
			findings = append(findings, line)
		}
	}
	if err != nil && len(findings) == 0 {
		t.Fatalf("kube-score: %v\n%s%s", err, out, stderr)
	}
	return findings
}

// TestKubeScoreCatchesMistakes makes sure kube-score runs the checks we rely on.
func TestKubeScoreCatchesMistakes(t *testing.T) {
	t.Parallel()
	const bad = `apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: 2
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers:
        - name: bad
          image: example/bad:latest
`
	var critical int
	for _, f := range kubeScore(t, []byte(bad)) {
		if strings.HasPrefix(f, "[CRITICAL]") {
			critical++
		}
	}
	if critical == 0 {
		t.Error("kube-score found nothing critical in a Deployment with no resources, probes or security context")
	}
}

// createdBefore reports whether sa is the account named and a pre-install and
// pre-upgrade hook weighted before job, so it exists when the Job runs.
func createdBefore(sa *corev1.ServiceAccount, name string, job *batchv1.Job) bool {
	if sa == nil || sa.Name != name {
		return false
	}
	hooks := strings.Split(sa.Annotations["helm.sh/hook"], ",")
	saWeight, _ := strconv.Atoi(sa.Annotations["helm.sh/hook-weight"])
	jobWeight, _ := strconv.Atoi(job.Annotations["helm.sh/hook-weight"])
	return slices.Contains(hooks, "pre-install") && slices.Contains(hooks, "pre-upgrade") && saWeight < jobWeight
}
