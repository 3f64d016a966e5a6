{{/*
The labels deploy/base gives every object (kustomize's "labels"), plus Helm's own. The names are fixed, as in
deploy/base: one release per cluster, and the remote-reader and monitoring objects refer to these names.
*/}}
{{- define "swg.labels" -}}
app.kubernetes.io/name: semaphore-wireguard
app.kubernetes.io/part-of: semaphore-wireguard
{{ include "swg.helmLabels" . }}
{{- end }}

{{- define "swg.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The image of both containers: repository:tag, or repository@digest. */}}
{{- define "swg.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/*
The name suffix kustomize's configMapGenerator and secretGenerator add (sigs.k8s.io/kustomize/api/hasher): the
SHA-256 of the JSON of {kind, name, data[, type]}, its first 10 hex digits with 0,1,3,a,e spelled g,h,k,m,t so
that the suffix never looks like a number or a word. The name in it is empty: kustomize looks up "metadata/name"
as one key and finds nothing (api v0.21.1, kubectl v1.36). The same names as kustomize (the tests compare them),
and a changed config or token rolls the pods, as with kustomize. Argument: the dict to hash.
*/}}
{{- define "swg.hashSuffix" -}}
{{- $hex := . | toJson | sha256sum | trunc 10 -}}
{{- $hex | replace "0" "g" | replace "1" "h" | replace "3" "k" | replace "a" "m" | replace "e" "t" -}}
{{- end }}

{{/* The clusters config as the text of clusters.json; fails with a clear message when missing or not JSON. */}}
{{- define "swg.clustersJson" -}}
{{- $c := .Values.clustersConfig -}}
{{- if not $c -}}
{{- fail "clustersConfig is required: the clusters config, e.g. --set-file clustersConfig=deploy/example/c1/clusters.json" -}}
{{- end -}}
{{- if kindIs "string" $c -}}
{{- $parsed := fromJson $c -}}
{{- if or (hasKey $parsed "Error") (not (hasKey $parsed "local")) (not (hasKey $parsed "remotes")) -}}
{{- fail "clustersConfig is not a clusters config: it must be JSON with \"local\" and \"remotes\" (see the README's Configuration)" -}}
{{- end -}}
{{ $c }}
{{- else -}}
{{ toPrettyJson $c }}
{{- end -}}
{{- end }}

{{- define "swg.configData" -}}
{{- dict "clusters.json" (include "swg.clustersJson" .) | toJson -}}
{{- end }}

{{- define "swg.configName" -}}
semaphore-wireguard-config-{{ include "swg.hashSuffix" (dict "kind" "ConfigMap" "name" "" "data" (include "swg.configData" . | fromJson)) }}
{{- end }}

{{- define "swg.tokenData" -}}
{{- $d := dict -}}
{{- range $k, $v := .Values.remoteTokens }}{{ $_ := set $d $k ($v | b64enc) }}{{ end -}}
{{- $d | toJson -}}
{{- end }}

{{- define "swg.tokensSecretName" -}}
{{- if .Values.remoteTokensSecret -}}
{{ .Values.remoteTokensSecret }}
{{- else if .Values.remoteTokens -}}
semaphore-wireguard-remote-tokens-{{ include "swg.hashSuffix" (dict "kind" "Secret" "name" "" "type" "Opaque" "data" (include "swg.tokenData" . | fromJson)) }}
{{- end -}}
{{- end }}

{{/*
The mirror's clusters config (mirror.clustersConfig) as the text of its clusters.json, as swg.clustersJson does
for the agents'; a remote in mirror mode there is refused: the mirror reads every remote directly.
*/}}
{{- define "swg.mirrorClustersJson" -}}
{{- $c := .Values.mirror.clustersConfig -}}
{{- if not $c -}}
{{- fail "mirror.clustersConfig is required with mirror.enabled: the mirror's clusters config, e.g. --set-file mirror.clustersConfig=deploy/example/c1-mirror/mirror-clusters.json" -}}
{{- end -}}
{{- $parsed := $c -}}
{{- if kindIs "string" $c -}}
{{- $parsed = fromJson $c -}}
{{- if or (hasKey $parsed "Error") (not (hasKey $parsed "local")) (not (hasKey $parsed "remotes")) -}}
{{- fail "mirror.clustersConfig is not a clusters config: it must be JSON with \"local\" and \"remotes\" (see the README's Configuration)" -}}
{{- end -}}
{{- end -}}
{{- range $parsed.remotes -}}
{{- if eq (.peerSource | default "direct") "mirror" -}}
{{- fail (printf "mirror.clustersConfig: remote %s has \"peerSource\": \"mirror\": the mirror watches its remotes directly, give it their credentials" .name) -}}
{{- end -}}
{{- end -}}
{{- if kindIs "string" $c -}}
{{ $c }}
{{- else -}}
{{ toPrettyJson $c }}
{{- end -}}
{{- end }}

{{- define "swg.mirrorConfigData" -}}
{{- dict "clusters.json" (include "swg.mirrorClustersJson" .) | toJson -}}
{{- end }}

{{- define "swg.mirrorConfigName" -}}
semaphore-wireguard-mirror-config-{{ include "swg.hashSuffix" (dict "kind" "ConfigMap" "name" "" "data" (include "swg.mirrorConfigData" . | fromJson)) }}
{{- end }}

{{- define "swg.mirrorTokenData" -}}
{{- $d := dict -}}
{{- range $k, $v := .Values.mirror.remoteTokens }}{{ $_ := set $d $k ($v | b64enc) }}{{ end -}}
{{- $d | toJson -}}
{{- end }}

{{- define "swg.mirrorTokensSecretName" -}}
{{- if .Values.mirror.remoteTokensSecret -}}
{{ .Values.mirror.remoteTokensSecret }}
{{- else if .Values.mirror.remoteTokens -}}
semaphore-wireguard-mirror-tokens-{{ include "swg.hashSuffix" (dict "kind" "Secret" "name" "" "type" "Opaque" "data" (include "swg.mirrorTokenData" . | fromJson)) }}
{{- end -}}
{{- end }}
