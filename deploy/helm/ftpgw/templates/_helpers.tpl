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

{{/* durationSeconds turns a Go duration of whole hours, minutes and
seconds ("90s", "2m", "1m30s", "1h", "0") into seconds. Its argument is
a list: the value's name, for the error, and the value. */}}
{{- define "ftpgw.durationSeconds" -}}
{{- $name := index . 0 -}}
{{- $d := index . 1 | toString -}}
{{- if eq $d "0" -}}0
{{- else if regexMatch "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$" $d | and $d -}}
{{- $h := regexFind "[0-9]+h" $d | trimSuffix "h" | default "0" | atoi -}}
{{- $m := regexFind "[0-9]+m" $d | trimSuffix "m" | default "0" | atoi -}}
{{- $s := regexFind "[0-9]+s" $d | trimSuffix "s" | default "0" | atoi -}}
{{- add (mul $h 3600) (mul $m 60) $s -}}
{{- else -}}{{ fail (printf "%s %q: give whole hours, minutes and seconds, such as 30s, 5m, 1m30s or 1h" $name $d) }}
{{- end -}}
{{- end -}}

{{/* gracePeriod is terminationGracePeriodSeconds: the value's, or the
time a pod may take to stop: the preStop sleep, then after SIGTERM the
drain pause and the requests' grace, and 10 s to spare. */}}
{{- define "ftpgw.gracePeriod" -}}
{{- if .Values.terminationGracePeriodSeconds -}}
{{ .Values.terminationGracePeriodSeconds }}
{{- else -}}
{{ add .Values.preStopSleepSeconds (include "ftpgw.durationSeconds" (list "drainPause" .Values.drainPause) | int) (include "ftpgw.durationSeconds" (list "shutdownTimeout" .Values.shutdownTimeout) | int) 10 }}
{{- end -}}
{{- end -}}

{{- define "ftpgw.configSecret" -}}
{{- .Values.existingConfigSecret | default (printf "%s-config" (include "ftpgw.fullname" .)) -}}
{{- end -}}
