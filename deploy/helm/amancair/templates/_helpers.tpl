{{/*
amancair.fullname is the prefix of every resource name: the release name, or
release-chart when the release name does not contain the chart's.
*/}}
{{- define "amancair.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* amancair.name is a service's resource name; call with (dict "root" $ "name" $name). */}}
{{- define "amancair.name" -}}
{{- printf "%s-%s" (include "amancair.fullname" .root) .name -}}
{{- end -}}

{{/* amancair.selectorLabels pick one service's API pods; (dict "root" $ "name" $name). */}}
{{- define "amancair.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: api
{{- end -}}

{{/* amancair.commonLabels go on every resource of the release. */}}
{{- define "amancair.commonLabels" -}}
app.kubernetes.io/part-of: amancair
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* amancair.labels are a service's API resources' labels; (dict "root" $ "name" $name). */}}
{{- define "amancair.labels" -}}
{{ include "amancair.selectorLabels" . }}
{{ include "amancair.commonLabels" .root }}
{{- end -}}

{{/* amancair.image is a service's image reference; (dict "root" $ "name" $name "svc" $svc). */}}
{{- define "amancair.image" -}}
{{- $repo := .svc.image.repository | default (printf "%s/%s" .root.Values.image.registry .name) -}}
{{- $tag := .svc.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/*
amancair.podSecurityContext: the distroless image's nonroot user (65532) by
number, since Kubernetes cannot check runAsNonRoot against a user name.
*/}}
{{- define "amancair.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "amancair.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
amancair.env is the environment of a service's pods (serve) and migration Job
(migrate); (dict "root" $ "name" $name "svc" $svc "migrate" bool). Secrets come
by reference from the service's database.existingSecret.
*/}}
{{- define "amancair.env" -}}
{{- $v := .root.Values -}}
{{- $db := .svc.database -}}
- name: LOG_LEVEL
  value: {{ $v.logLevel | quote }}
{{- if $v.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $v.otel.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $v.otel.protocol | quote }}
{{- end }}
{{- if .migrate }}
- name: MIGRATE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.database.existingSecret is required" .name) $db.existingSecret }}
      key: {{ $db.migrateUrlKey }}
{{- if $db.appPasswordKey }}
- name: DB_APP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $db.existingSecret }}
      key: {{ $db.appPasswordKey }}
      optional: true
{{- end }}
{{/* migrate also creates the service's transit keys and blind-index key. */}}
{{ include "amancair.vaultEnv" . }}
{{- else }}
- name: HTTP_ADDR
  value: ":8080"
- name: OPS_ADDR
  value: ":9090"
- name: SHUTDOWN_GRACE
  value: {{ printf "%vs" $v.shutdownGraceSeconds | quote }}
- name: TRUSTED_PROXIES
  value: {{ required "trustedProxies is required" $v.trustedProxies | quote }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.database.existingSecret is required" .name) $db.existingSecret }}
      key: {{ $db.urlKey }}
- name: NATS_URL
  value: {{ $v.nats.url | quote }}
{{- with $v.nats.auth.existingSecretPrefix }}
- name: NATS_USER
  valueFrom:
    secretKeyRef: {name: {{ printf "%s%s" . $.name | quote }}, key: NATS_USER}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ printf "%s%s" . $.name | quote }}, key: NATS_PASSWORD}
{{- end }}
{{ include "amancair.vaultEnv" . }}
- name: IDENTITY_JWKS_URL
  value: {{ printf "http://%s:8080/.well-known/jwks.json" (include "amancair.name" (dict "root" .root "name" "identity")) | quote }}
- name: JWT_ISSUER
  value: {{ $v.jwt.issuer | quote }}
- name: JWT_AUDIENCE
  value: {{ $v.jwt.audience | quote }}
{{- if eq .name "identity" }}
{{- /* identity gathers a user's data export from these two. */}}
- name: DEVICE_URL
  value: {{ printf "http://%s:8080" (include "amancair.name" (dict "root" .root "name" "device")) | quote }}
- name: CONTACTS_URL
  value: {{ printf "http://%s:8080" (include "amancair.name" (dict "root" .root "name" "contacts")) | quote }}
{{- end }}
{{- range $k, $val := .svc.env }}
- name: {{ $k }}
  value: {{ $val | quote }}
{{- end }}
{{- end }}
{{- end -}}


{{/* amancair.vaultEnv: how a service (and its migrate job) reaches Vault. */}}
{{- define "amancair.vaultEnv" -}}
{{- $v := .root.Values -}}
- name: VAULT_ADDR
  value: {{ $v.vault.addr | quote }}
- name: VAULT_AUTH_METHOD
  value: {{ $v.vault.auth.method | quote }}
{{- if eq $v.vault.auth.method "kubernetes" }}
- name: VAULT_K8S_ROLE
  value: {{ .svc.vault.role | default .name | quote }}
- name: VAULT_K8S_MOUNT
  value: {{ $v.vault.auth.mount | quote }}
{{- else if eq $v.vault.auth.method "token" }}
- name: VAULT_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ required "vault.auth.tokenSecret.name is required with vault.auth.method token" $v.vault.auth.tokenSecret.name }}
      key: {{ $v.vault.auth.tokenSecret.key }}
{{- else }}
{{- fail (printf "vault.auth.method must be kubernetes or token, not %q" $v.vault.auth.method) }}
{{- end }}
{{- end -}}
