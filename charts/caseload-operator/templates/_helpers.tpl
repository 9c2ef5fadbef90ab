{{/* The chart's name. */}}
{{- define "caseload.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name, with the chart's name added unless it is already in it. */}}
{{- define "caseload.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "caseload.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "caseload.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: caseload-operator
{{- end }}

{{/* Labels that select the manager's pods. */}}
{{- define "caseload.selectorLabels" -}}
app.kubernetes.io/name: {{ include "caseload.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "caseload.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "caseload.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "caseload.webhookServiceName" -}}
{{- printf "%s-webhook" (include "caseload.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "caseload.metricsServiceName" -}}
{{- printf "%s-metrics" (include "caseload.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "caseload.webhookCertSecret" -}}
{{- printf "%s-webhook-cert" (include "caseload.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "caseload.certificateName" -}}
{{- printf "%s-serving-cert" (include "caseload.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
caseload.generatedObjects parses one of the files copied from config/ by `make chart-files`
(files/role.yaml, files/webhook-manifests.yaml: both written by controller-gen) and returns its
objects as a YAML list, so the templates can range over them.
*/}}
{{- define "caseload.generatedObjects" -}}
{{- $objects := list }}
{{- range $doc := regexSplit "(?m)^---[ \\t]*$" (.root.Files.Get .file) -1 }}
{{- $obj := fromYaml $doc }}
{{- if and $obj (get $obj "kind") }}
{{- $objects = append $objects $obj }}
{{- end }}
{{- end }}
{{- toYaml $objects }}
{{- end }}

{{/*
caseload.image is the manager's image: repository@digest when image.digest is set (the released
chart pins the digest it was built with), else repository:tag, the tag defaulting to appVersion.
*/}}
{{- define "caseload.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}
