package app_test

import (
	"net/http"
	"os"
	"testing"

	"amancair.dev/pkg/testenv"
	"amancair.dev/services/audit/internal/app"
	"amancair.dev/services/audit/internal/httpapi"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func TestServesItsDocsAndNothingElse(t *testing.T) {
	t.Parallel()
	svc := testenv.StartService(t, app.Run, testenv.NewTokenIssuer(t).Env(testenv.Database(t).ServiceEnv("audit")))
	api := testenv.NewClient(t, svc.URL, httpapi.OpenAPI)
	if r := api.Do("GET", "/audit/openapi.json", nil); r.Status != http.StatusOK {
		t.Errorf("openapi.json = %d", r.Status)
	}
	if r := api.Do("GET", "/audit/events", nil); r.Status != http.StatusNotFound {
		t.Errorf("/audit/events = %d, want 404 until the trail exists", r.Status)
	}
}
