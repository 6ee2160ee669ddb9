{{/*
The resource name prefix. It is deterministic (<release>-oauth-injector)
because cmd/webhook is told the MutatingWebhookConfiguration's name by flag
and patches its caBundle; a name that varied with chart internals would
break that link.
*/}}
{{- define "oauth-injector.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-oauth-injector" .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "oauth-injector.serviceAccountName" -}}
{{- default (include "oauth-injector.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The CA + serving certificate Secret managed by cmd/webhook in self mode. */}}
{{- define "oauth-injector.certSecretName" -}}
{{- printf "%s-certs" (include "oauth-injector.fullname" .) -}}
{{- end -}}

{{/* The serving certificate Secret written by cert-manager in certManager mode. */}}
{{- define "oauth-injector.tlsSecretName" -}}
{{- printf "%s-tls" (include "oauth-injector.fullname" .) -}}
{{- end -}}

{{- define "oauth-injector.serviceDNSName" -}}
{{- printf "%s.%s.svc" (include "oauth-injector.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "oauth-injector.selectorLabels" -}}
app.kubernetes.io/name: oauth-injector
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oauth-injector.labels" -}}
{{ include "oauth-injector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* image.registry/<name>:tag unless the component names its own repository or tag. */}}
{{- define "oauth-injector.image" -}}
{{- $root := index . 0 -}}{{- $img := index . 1 -}}{{- $name := index . 2 -}}
{{- $repo := default (printf "%s/%s" (trimSuffix "/" $root.Values.image.registry) $name) $img.repository -}}
{{- printf "%s:%s" $repo (default (default $root.Chart.AppVersion $root.Values.image.tag) $img.tag) -}}
{{- end -}}

{{- define "oauth-injector.webhookImage" -}}
{{- include "oauth-injector.image" (list . .Values.webhook.image "webhook") -}}
{{- end -}}

{{- define "oauth-injector.sidecarImage" -}}
{{- include "oauth-injector.image" (list . .Values.sidecar.image "injector") -}}
{{- end -}}
