package check

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "deploy/helm/amancair"
	releaseName = "amancair"
)

// valueSet is one way of installing the chart.
type valueSet struct {
	name  string
	files []string // under chartDir
	set   []string // --set arguments
}

// valueSets are the installations every chart check covers: the two value files,
// and each with the optional kinds (HTTPRoute instead of Ingress, ServiceMonitor)
// and the token auth method switched on.
var valueSets = []valueSet{
	{name: "default"},
	{name: "production", files: []string{"values-production.yaml"}},
	{name: "default+gatewayAPI+serviceMonitor", set: []string{"gatewayAPI.enabled=true", "serviceMonitor.enabled=true"}},
	{name: "production+gatewayAPI", files: []string{"values-production.yaml"}, set: []string{"gatewayAPI.enabled=true"}},
	{name: "one-replica+vault-token", set: []string{
		"vault.auth.method=token", "vault.auth.tokenSecret.name=amancair-vault-token",
		"services.identity.autoscaling.enabled=false", "services.device.autoscaling.enabled=false",
		"services.contacts.autoscaling.enabled=false", "services.audit.autoscaling.enabled=false",
	}},
}

// helmArgs are the arguments selecting vs's values.
func (vs valueSet) helmArgs() []string {
	var args []string
	for _, f := range vs.files {
		args = append(args, "--values", chartDir+"/"+f)
	}
	for _, s := range vs.set {
		args = append(args, "--set", s)
	}
	return args
}

// renderChart is `helm template` of the chart with vs, as release "amancair".
func renderChart(t testing.TB, vs valueSet) []byte {
	t.Helper()
	args := append([]string{"template", releaseName, chartDir, "--namespace", "amancair"}, vs.helmArgs()...)
	return run(t, nil, bin(t, "helm"), args...)
}

// object is one decoded manifest.
type object struct {
	Kind, Name string
	Obj        any // a pointer to the kind's Go type
	Raw        []byte
}

// kinds maps every kind the chart may render to its apiVersion and Go type. A
// kind missing here fails decoding: each new kind must be checked against a type.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"Deployment":              {"apps/v1", func() any { return new(appsv1.Deployment) }},
	"Service":                 {"v1", func() any { return new(corev1.Service) }},
	"ServiceAccount":          {"v1", func() any { return new(corev1.ServiceAccount) }},
	"HorizontalPodAutoscaler": {"autoscaling/v2", func() any { return new(autoscalingv2.HorizontalPodAutoscaler) }},
	"PodDisruptionBudget":     {"policy/v1", func() any { return new(policyv1.PodDisruptionBudget) }},
	"Job":                     {"batch/v1", func() any { return new(batchv1.Job) }},
	"Ingress":                 {"networking.k8s.io/v1", func() any { return new(networkingv1.Ingress) }},
	"NetworkPolicy":           {"networking.k8s.io/v1", func() any { return new(networkingv1.NetworkPolicy) }},
	"HTTPRoute":               {"gateway.networking.k8s.io/v1", func() any { return new(gatewayv1.HTTPRoute) }},
	"ServiceMonitor":          {"monitoring.coreos.com/v1", func() any { return new(monitoringv1.ServiceMonitor) }},
}

// decodeStrict splits a multi-document YAML stream and decodes every document
// into its kind's Go type, refusing unknown and duplicate fields, wrong value
// types and unknown kinds or apiVersions.
func decodeStrict(stream []byte) ([]object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var objs []object
	var errs []error
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			errs = append(errs, fmt.Errorf("document %q: %w", firstLine(doc), err))
			continue
		}
		if tm.Kind == "" && tm.APIVersion == "" {
			continue // only comments
		}
		k, ok := kinds[tm.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("kind %s (%s): no Go type to check it against", tm.Kind, tm.APIVersion))
			continue
		}
		if tm.APIVersion != k.apiVersion {
			errs = append(errs, fmt.Errorf("%s: apiVersion %s, want %s", tm.Kind, tm.APIVersion, k.apiVersion))
			continue
		}
		obj := k.new()
		if err := unmarshalStrict(doc, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", tm.Kind, nameOf(doc), err))
			continue
		}
		name := obj.(metav1.Object).GetName()
		if name == "" {
			errs = append(errs, fmt.Errorf("%s without a name", tm.Kind))
		}
		objs = append(objs, object{Kind: tm.Kind, Name: name, Obj: obj, Raw: doc})
	}
	return objs, errors.Join(errs...)
}

// unmarshalStrict decodes one YAML document into obj as the API server would,
// but refusing what it would only warn about: field names match case-sensitively
// (encoding/json's case-insensitive matching would accept readOnlyRootFileSystem),
// and unknown or duplicate fields are errors.
func unmarshalStrict(doc []byte, obj any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func firstLine(doc []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(doc)), "\n")
	return line
}

func nameOf(doc []byte) string {
	var m struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	_ = yaml.Unmarshal(doc, &m)
	return m.Metadata.Name
}

// renderDecoded renders the chart with vs and decodes it strictly.
func renderDecoded(t testing.TB, vs valueSet) []object {
	t.Helper()
	objs, err := decodeStrict(renderChart(t, vs))
	if err != nil {
		t.Fatalf("values %s: rendered manifests do not match the Kubernetes API types:\n%v", vs.name, err)
	}
	return objs
}

// find returns the objects of kind.
func find[T any](objs []object, kind string) []*T {
	var out []*T
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o.Obj.(*T))
		}
	}
	return out
}

// findNamed returns the object of kind named name, or nil.
func findNamed[T any](objs []object, kind, name string) *T {
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o.Obj.(*T)
		}
	}
	return nil
}

func TestHelmLint(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"lint", chartDir, "--strict"}, vs.helmArgs()...)
			run(t, nil, bin(t, "helm"), args...)
		})
	}
}

// TestManifestsDecodeStrictly renders the chart with every value set and decodes
// each manifest into its Kubernetes (or CRD) Go type with unknown fields refused.
func TestManifestsDecodeStrictly(t *testing.T) {
	t.Parallel()
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			t.Parallel()
			objs := renderDecoded(t, vs)
			count := map[string]int{}
			for _, o := range objs {
				count[o.Kind]++
			}
			for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "Job"} {
				if count[kind] != len(services) {
					t.Errorf("%d %s objects, want one per service (%d)", count[kind], kind, len(services))
				}
			}
			// One for each service's pods and one for its migration Job.
			if count["ServiceAccount"] != 2*len(services) {
				t.Errorf("%d ServiceAccount objects, want two per service (%d)", count["ServiceAccount"], 2*len(services))
			}
			if count["NetworkPolicy"] == 0 {
				t.Error("no NetworkPolicy rendered")
			}
			if count["Ingress"]+count["HTTPRoute"] != 1 {
				t.Errorf("%d Ingress and %d HTTPRoute objects, want exactly one route object", count["Ingress"], count["HTTPRoute"])
			}
		})
	}
}

// TestDecodeStrictRefusesMistakes proves the decoder catches what it is for.
func TestDecodeStrictRefusesMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
	}{
		{"misspelled field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n"},
		{"misspelled nested field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80, targetport: 8080}]}\n"},
		{"field in the wrong case", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, securityContext: {readOnlyRootFileSystem: true}}]}}}\n"},
		{"wrong value type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n"},
		{"wrong boolean", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nautomountServiceAccountToken: maybe\n"},
		{"bad quantity", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, resources: {limits: {cpu: lots}}}]}}}\n"},
		{"duplicate field", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nmetadata: {name: y}\n"},
		{"old apiVersion", "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: x}\n"},
		{"unknown kind", "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n"},
		{"CRD field", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: x}\nspec: {rules: [{matches: [{paths: []}]}]}\n"},
		{"ServiceMonitor field", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec: {endpoints: [{prot: ops}]}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := decodeStrict([]byte(tt.doc)); err == nil {
				t.Errorf("decodeStrict accepted:\n%s", tt.doc)
			}
		})
	}
}
