package httpserver

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"sigs.k8s.io/yaml"
)

// docsPage renders Swagger UI for one service's OpenAPI document, the way the
// blueprint's FastAPI served /docs.
var docsPage = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AmanCair {{.Service}} API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/swagger-ui.css"
  integrity="sha384-wxLW6kwyHktdDGr6Pv1zgm/VGJh99lfUbzSn6HNHBENZlCN7W602k9VkGdxuFvPn" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui" data-spec="{{.SpecURL}}"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/swagger-ui-bundle.js"
  integrity="sha384-wmyclcVGX/WhUkdkATwhaK1X1JtiNrr2EoYJ+diV3vj4v6OC5yCeSu+yW13SYJep" crossorigin="anonymous"></script>
<script>{{.Script}}</script>
</body>
</html>
`))

// docsScript starts Swagger UI; the page's CSP allows exactly this inline script.
const docsScript = `window.ui = SwaggerUIBundle({url: document.getElementById("swagger-ui").dataset.spec, dom_id: "#swagger-ui"});`

// docsCSP lets the docs page load Swagger UI (pinned, with subresource integrity)
// and this service's document, and nothing else.
var docsCSP = func() string {
	sum := sha256.Sum256([]byte(docsScript))
	return "default-src 'none'; script-src https://cdn.jsdelivr.net 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: https://cdn.jsdelivr.net; " +
		"font-src https://cdn.jsdelivr.net; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}()

// MountDocs serves the service's OpenAPI document (written in YAML) as JSON at
// prefix+"/openapi.json" and its docs page at prefix+"/docs". It fails at start-up
// when the document is not valid YAML.
func MountDocs(app fiber.Router, prefix, service string, specYAML []byte) error {
	spec, err := yaml.YAMLToJSON(specYAML)
	if err != nil {
		return fmt.Errorf("openapi document of %s: %w", service, err)
	}
	var page strings.Builder
	if err := docsPage.Execute(&page, map[string]any{"Service": service, "SpecURL": prefix + "/openapi.json",
		"Script": template.JS(docsScript)}); err != nil {
		return err
	}
	html := page.String()
	app.Get(prefix+"/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		c.Set(fiber.HeaderContentType, "application/json; charset=utf-8")
		return c.Send(spec)
	})
	app.Get(prefix+"/docs", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		c.Set(fiber.HeaderContentSecurityPolicy, docsCSP)
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.SendString(html)
	})
	return nil
}

// PathID reads a positive 64-bit id from the route parameter name; anything else
// names no resource, so it is a 404.
func PathID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, NotFound("No resource at this path.")
	}
	return id, nil
}
