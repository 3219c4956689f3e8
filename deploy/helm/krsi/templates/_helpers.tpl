{{/* The chart's name, and the name of every object it makes. */}}
{{- define "krsi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "krsi.fullname" -}}
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

{{- define "krsi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "krsi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "krsi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "krsi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "krsi.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "krsi.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing ServiceAccount, or set serviceAccount.create" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "krsi.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The runtime's NRI socket on the node: nri.socketPath, else the runtime's default. */}}
{{- define "krsi.nriSocketPath" -}}
{{- $defaults := dict "containerd" "/var/run/nri/nri.sock" "crio" "/var/run/nri/nri.sock" }}
{{- if not (hasKey $defaults .Values.runtime) }}
{{- fail (printf "runtime: %q, want containerd or crio" .Values.runtime) }}
{{- end }}
{{- $path := default (get $defaults .Values.runtime) .Values.nri.socketPath }}
{{- if not (isAbs $path) }}
{{- fail (printf "nri.socketPath: %q is not an absolute path" $path) }}
{{- end }}
{{- clean $path }}
{{- end }}

{{/* The port of a HOST:PORT address (":9810", "0.0.0.0:9810", "[::]:9810"). */}}
{{- define "krsi.port" -}}
{{- $port := regexFind "[0-9]+$" .addr }}
{{- if or (not (regexMatch "^(\\[[0-9a-fA-F:.]*\\]|[^:\\[\\]]*):[0-9]+$" .addr)) (lt (atoi $port) 1) (gt (atoi $port) 65535) }}
{{- fail (printf "config.%s: %q, want HOST:PORT such as \":9810\" (or \"\" for off)" .key .addr) }}
{{- end }}
{{- $port }}
{{- end }}

{{/*
The node configuration file: config, with socketPath from nri. toYaml keeps
every key the values hold, so a key the daemon does not know reaches it and
it refuses to start naming the key (values.schema.json catches it first).
*/}}
{{- define "krsi.configFile" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "socketPath" (include "krsi.nriSocketPath" .) }}
{{- if not (hasPrefix "/sys/fs/bpf/" (printf "%s/" (clean $cfg.pinDir))) }}
{{- fail (printf "config.pinDir: %q is not under /sys/fs/bpf, the host's bpffs the pod mounts" $cfg.pinDir) }}
{{- end }}
{{- if eq (clean $cfg.pinDir) "/sys/fs/bpf" }}
{{- fail "config.pinDir: /sys/fs/bpf itself; name a directory of krsi's own, e.g. /sys/fs/bpf/krsi (krsi unload removes it)" }}
{{- end }}
{{- if not (has "/etc/krsi/profiles.d" $cfg.profileDirs) }}
{{- fail "config.profileDirs: /etc/krsi/profiles.d is missing; the chart mounts the profiles ConfigMap there" }}
{{- end }}
{{- if not (isAbs $cfg.recordDir) }}
{{- fail (printf "config.recordDir: %q is not an absolute path" $cfg.recordDir) }}
{{- end }}
# Rendered by the krsi Helm chart from its config values (socketPath from
# nri.socketPath). Every key and its meaning: deploy/nri/10-krsi.conf.
{{ toYaml $cfg }}
{{- end }}
