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

{{- define "oauth-injector.webhookImage" -}}
{{- printf "%s:%s" .Values.webhook.image.repository (default .Chart.AppVersion .Values.webhook.image.tag) -}}
{{- end -}}

{{- define "oauth-injector.sidecarImage" -}}
{{- printf "%s:%s" .Values.sidecar.image.repository (default .Chart.AppVersion .Values.sidecar.image.tag) -}}
{{- end -}}
