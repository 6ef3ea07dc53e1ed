{{/* Object names: <fullname>-coordinator, … */}}
{{- define "strata.fullname" -}}
{{- .Values.fullnameOverride | default "strata" | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object's metadata; selectors use app.kubernetes.io/name only, which never changes. */}}
{{- define "strata.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: strata
{{- end -}}

{{/* An image reference: registry/repository, then @digest or :tag (appVersion by default). */}}
{{- define "strata.image" -}}
{{- $img := index .root.Values.images .which -}}
{{- $repo := $img.repository -}}
{{- with .root.Values.images.registry }}{{ $repo = printf "%s/%s" . $repo }}{{ end -}}
{{- if $img.digest -}}
{{ $repo }}@{{ $img.digest }}
{{- else -}}
{{ $repo }}:{{ $img.tag | default .root.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "strata.imagePull" -}}
{{- with .Values.images.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end -}}

{{- define "strata.pullSecrets" -}}
{{- with .Values.images.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The restricted Pod Security Standard, for every container. */}}
{{- define "strata.containerSecurity" -}}
securityContext:
  runAsNonRoot: true
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
  seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "strata.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  {{- if .fsGroup }}
  fsGroup: 10001
  {{- end }}
  seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* Spread constraints with this component's selector filled in. */}}
{{- define "strata.spread" -}}
{{- with .constraints }}
topologySpreadConstraints:
{{- range . }}
  - {{ toYaml . | nindent 4 | trim }}
    labelSelector:
      matchLabels: {app.kubernetes.io/name: {{ $.name }}}
{{- end }}
{{- end }}
{{- end -}}

{{/* The settings file and broker certificates, mounted alike in coordinators and workers. Modes are
     decimal (288 = 0440: owner and group read): a leading-zero octal means 440 to a YAML 1.2 parser. */}}
{{- define "strata.fleetVolumes" -}}
- name: config
  secret:
    secretName: {{ .Values.fleet.existingSecret }}
    defaultMode: 288
    items: [{key: config.toml, path: config.toml}]
- name: broker-tls
  secret: {secretName: {{ .Values.brokerTls.existingSecret }}, defaultMode: 288, optional: true}
{{- end -}}

{{- define "strata.fleetMounts" -}}
- {name: config, mountPath: /var/run/secrets/strata/config, readOnly: true}
- {name: broker-tls, mountPath: /var/run/secrets/strata/broker-tls, readOnly: true}
{{- end -}}

{{- define "strata.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
