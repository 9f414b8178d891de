{{/* Names and labels shared by every template. */}}

{{- define "inference-bench.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: DNS labels, so at most 63 characters. */}}
{{- define "inference-bench.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "inference-bench.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The operator's own objects. The component label keeps the Deployment's selector and the
metrics Service off the runner pods, which the operator labels app.kubernetes.io/name too.
*/}}
{{- define "inference-bench.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inference-bench.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "inference-bench.labels" -}}
helm.sh/chart: {{ include "inference-bench.chart" . }}
{{ include "inference-bench.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "inference-bench.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "inference-bench.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "inference-bench.image" -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) }}
{{- end }}
