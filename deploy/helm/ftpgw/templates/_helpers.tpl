{{/* The release's name for the chart's objects, at most 63 characters. */}}
{{- define "ftpgw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ftpgw.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ftpgw.labels" -}}
{{ include "ftpgw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* durationSeconds turns a Go duration of whole seconds, minutes or
hours ("90s", "5m", "1h") into seconds. */}}
{{- define "ftpgw.durationSeconds" -}}
{{- $d := toString . -}}
{{- if hasSuffix "h" $d -}}{{ mul (trimSuffix "h" $d | int) 3600 }}
{{- else if hasSuffix "m" $d -}}{{ mul (trimSuffix "m" $d | int) 60 }}
{{- else if hasSuffix "s" $d -}}{{ trimSuffix "s" $d | int }}
{{- else -}}{{ fail (printf "duration %q: give whole seconds, minutes or hours, such as 30s, 5m or 1h" $d) }}
{{- end -}}
{{- end -}}

{{- define "ftpgw.gracePeriod" -}}
{{- if .Values.terminationGracePeriodSeconds -}}
{{ .Values.terminationGracePeriodSeconds }}
{{- else -}}
{{ add (include "ftpgw.durationSeconds" .Values.drainPause | int) (include "ftpgw.durationSeconds" .Values.shutdownTimeout | int) 10 }}
{{- end -}}
{{- end -}}

{{- define "ftpgw.configSecret" -}}
{{- .Values.existingConfigSecret | default (printf "%s-config" (include "ftpgw.fullname" .)) -}}
{{- end -}}
