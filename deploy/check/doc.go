// Package check holds the deployment checks `make test` runs: the Helm chart
// linted, rendered and decoded strictly against the Kubernetes API types and
// scored by kube-score; docker-compose.yml loaded by the compose-spec library;
// skaffold.yaml rendered by skaffold; the Dockerfiles checked and their build
// replayed without Docker; and the routes of the Caddy gateway, the Ingress and
// the HTTPRoute compared with the public API contract.
//
// The tools come pinned from tools/* and are built into bin/ by
// scripts/deploy-tools.sh; a missing one fails the check that needs it.
package check
