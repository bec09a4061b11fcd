{{/*
Names, labels, the container spec shared by both modes, and the render-time checks of the
config against the deployment (idbridge.validate): a mistake that would only show as a crash
loop or a lost store is refused by `helm install` instead.
*/}}

{{- define "idbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "idbridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "idbridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "idbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "idbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "idbridge.labels" -}}
helm.sh/chart: {{ include "idbridge.chart" . }}
{{ include "idbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end -}}

{{- define "idbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "idbridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "idbridge.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "idbridge.claimName" -}}
{{- default (printf "%s-data" (include "idbridge.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/* Where the ConfigMap is mounted; the config file is idbridge.toml in it. */}}
{{- define "idbridge.configDir" -}}/etc/idbridge{{- end -}}

{{/* The config as JSON (fromToml's map), or a render failure naming the TOML error. */}}
{{- define "idbridge.configData" -}}
{{- $c := fromToml .Values.config -}}
{{- if and (hasKey $c "Error") (eq (len $c) 1) -}}
{{- fail (printf "config: the idbridge config is not valid TOML: %s" $c.Error) -}}
{{- end -}}
{{- toJson $c -}}
{{- end -}}

{{/*
The store as the chart sees it: kind sqlite (with its path), memory, postgres, or secret (the URL
comes from url_file/url_env, which the chart cannot read: taken as PostgreSQL).
*/}}
{{- define "idbridge.store" -}}
{{- $c := include "idbridge.configData" . | fromJson -}}
{{- $s := default (dict) $c.store -}}
{{- if or (hasKey $s "url_file") (hasKey $s "url_env") -}}
{{- dict "kind" "secret" | toJson -}}
{{- else -}}
{{- $url := trim (default "sqlite://idbridge.db?mode=rwc" $s.url) -}}
{{- $lower := lower $url -}}
{{- if or (hasPrefix "postgres://" $lower) (hasPrefix "postgresql://" $lower) -}}
{{- dict "kind" "postgres" | toJson -}}
{{- else -}}
{{- $rest := $url -}}
{{- if hasPrefix "sqlite://" $lower -}}
{{- $rest = substr 9 (len $url) $url -}}
{{- else if hasPrefix "sqlite:" $lower -}}
{{- $rest = substr 7 (len $url) $url -}}
{{- end -}}
{{- $parts := splitn "?" 2 $rest -}}
{{- $db := $parts._0 -}}
{{- $query := default "" $parts._1 -}}
{{- if or (eq $db ":memory:") (has "mode=memory" (splitList "&" $query)) -}}
{{- dict "kind" "memory" "url" $url | toJson -}}
{{- else -}}
{{- dict "kind" "sqlite" "url" $url "path" $db | toJson -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The `*_file` paths anywhere in a config node, one per line. */}}
{{- define "idbridge.fileRefs" -}}
{{- if kindIs "map" . -}}
{{- range $k, $v := . -}}
{{- if and (kindIs "string" $v) (or (hasSuffix "_file" $k) (eq $k "path")) -}}
{{- printf "%s\n" $v -}}
{{- else if or (kindIs "map" $v) (kindIs "slice" $v) -}}
{{- include "idbridge.fileRefs" $v -}}
{{- end -}}
{{- end -}}
{{- else if kindIs "slice" . -}}
{{- range . -}}
{{- include "idbridge.fileRefs" . -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The container port: the port of `[serve] listen`. */}}
{{- define "idbridge.listenPort" -}}
{{- $c := include "idbridge.configData" . | fromJson -}}
{{- $listen := toString (dig "serve" "listen" "" $c) -}}
{{- regexFind "[0-9]+$" $listen -}}
{{- end -}}

{{/* Every render-time check; renders nothing when all pass. */}}
{{- define "idbridge.validate" -}}
{{- $c := include "idbridge.configData" . | fromJson -}}
{{- $store := include "idbridge.store" . | fromJson -}}
{{- $p := .Values.persistence -}}
{{- if eq $store.kind "memory" -}}
{{- fail (printf "config: [store] url %q is an in-memory SQLite database: the links and the journal would be lost at every restart. Put the store on the volume (url = \"sqlite://%s/idbridge.db?mode=rwc\") or use PostgreSQL (url_file)." $store.url $p.mountPath) -}}
{{- end -}}
{{- if eq $store.kind "sqlite" -}}
{{- if not $p.enabled -}}
{{- fail (printf "config: the store is SQLite (%s) but persistence.enabled is false: the root file system is read-only and a pod's files do not outlive it. Enable persistence, or use PostgreSQL (persistence.enabled=false with [store] url_file)." $store.url) -}}
{{- end -}}
{{- if not (hasPrefix "/" $store.path) -}}
{{- fail (printf "config: [store] url %q is a relative SQLite path, which idbridge resolves against the config's folder (%s, a read-only ConfigMap). Put it on the volume: url = \"sqlite://%s/idbridge.db?mode=rwc\"." $store.url (include "idbridge.configDir" .) $p.mountPath) -}}
{{- end -}}
{{- if ne (dir $store.path) (trimSuffix "/" $p.mountPath) -}}
{{- fail (printf "config: the SQLite database %s must be a file directly in persistence.mountPath (%s): idbridge creates the database and its lock files beside it but never their folder, and everything else is read-only. Use url = \"sqlite://%s/%s?mode=rwc\"." $store.path $p.mountPath (trimSuffix "/" $p.mountPath) (base $store.path)) -}}
{{- end -}}
{{- end -}}
{{- if and $p.enabled (gt (int .Values.replicaCount) 1) -}}
{{- fail (printf "replicaCount is %d but persistence is enabled (a SQLite store): SQLite allows exactly one replica. Use replicaCount=1, or PostgreSQL (persistence.enabled=false) for several replicas." (int .Values.replicaCount)) -}}
{{- end -}}
{{- if eq .Values.mode "serve" -}}
{{- $listen := toString (dig "serve" "listen" "" $c) -}}
{{- if not $listen -}}
{{- fail "config: mode is serve but the config has no [serve] listen: set it, e.g. listen = \"0.0.0.0:8080\" (the probes and the Service use its port)." -}}
{{- end -}}
{{- $port := include "idbridge.listenPort" . -}}
{{- if not $port -}}
{{- fail (printf "config: [serve] listen %q has no port: write it as HOST:PORT, e.g. \"0.0.0.0:8080\"." $listen) -}}
{{- end -}}
{{- $host := trimSuffix (printf ":%s" $port) $listen -}}
{{- if or (hasPrefix "127." $host) (eq $host "localhost") (eq $host "[::1]") -}}
{{- fail (printf "config: [serve] listen %q is a loopback address: the kubelet's probes and the Service could not reach it. Listen on \"0.0.0.0:%s\"." $listen $port) -}}
{{- end -}}
{{- end -}}
{{- $secretDir := trimSuffix "/" .Values.secrets.mountPath -}}
{{- $configDir := include "idbridge.configDir" . -}}
{{- $itemPaths := list -}}
{{- range .Values.secrets.items -}}
{{- $itemPaths = append $itemPaths .path -}}
{{- end -}}
{{- range $raw := splitList "\n" (include "idbridge.fileRefs" $c) -}}
{{- /* idbridge resolves a relative path against the config file's folder. */ -}}
{{- $ref := ternary $raw (printf "%s/%s" $configDir $raw) (or (hasPrefix "/" $raw) (eq $raw "")) -}}
{{- if hasPrefix (printf "%s/" $secretDir) $ref -}}
{{- if not $.Values.secrets.existingSecret -}}
{{- fail (printf "config: %s is under secrets.mountPath but secrets.existingSecret is empty: name the Secret that holds it." $ref) -}}
{{- end -}}
{{- $key := trimPrefix (printf "%s/" $secretDir) $ref -}}
{{- if and $itemPaths (not (has $key $itemPaths)) -}}
{{- fail (printf "config: %s is not mounted: secrets.items lists only %s. Add {key: …, path: %s}." $ref (join ", " $itemPaths) $key) -}}
{{- end -}}
{{- end -}}
{{- if hasPrefix (printf "%s/" $configDir) $ref -}}
{{- $name := trimPrefix (printf "%s/" $configDir) $ref -}}
{{- if and (ne $name "idbridge.toml") (not (hasKey $.Values.configFiles $name)) -}}
{{- fail (printf "config: %s is in the ConfigMap's folder but configFiles has no %q: add it there (or mount it elsewhere with extraVolumes)." $ref $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Arguments before the command: the config file, the log format, the verbosity. */}}
{{- define "idbridge.globalArgs" -}}
- --config
- {{ include "idbridge.configDir" . }}/idbridge.toml
- --log-format
- {{ .Values.logFormat }}
{{- if gt (int .Values.verbosity) 0 }}
- -{{ repeat (int .Values.verbosity) "v" }}
{{- end }}
{{- end -}}

{{/* Pod annotations: the config checksum (a changed config restarts serve) and the scrape hints. */}}
{{- define "idbridge.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if and (eq .Values.mode "serve") .Values.metrics.annotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "idbridge.listenPort" . | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod spec of both modes; the caller adds restartPolicy (cronjob). */}}
{{- define "idbridge.podSpec" -}}
serviceAccountName: {{ include "idbridge.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
containers:
  - name: idbridge
    image: {{ include "idbridge.image" . | quote }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args:
      {{- include "idbridge.globalArgs" . | nindent 6 }}
      {{- if eq .Values.mode "serve" }}
      - serve
      {{- else if .Values.cronjob.dryRun }}
      - plan
      {{- else }}
      - sync
      - --yes
      {{- end }}
    {{- with .Values.env }}
    env:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if eq .Values.mode "serve" }}
    ports:
      - name: http
        containerPort: {{ include "idbridge.listenPort" . }}
        protocol: TCP
    {{- with .Values.startupProbe }}
    startupProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.livenessProbe }}
    livenessProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.readinessProbe }}
    readinessProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- end }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    resources:
      {{- toYaml .Values.resources | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: {{ include "idbridge.configDir" . }}
        readOnly: true
      {{- if .Values.secrets.existingSecret }}
      # A directory mount, not subPath: the kubelet then updates rotated secrets in place.
      - name: secrets
        mountPath: {{ .Values.secrets.mountPath }}
        readOnly: true
      {{- end }}
      {{- if .Values.persistence.enabled }}
      - name: data
        mountPath: {{ .Values.persistence.mountPath }}
      {{- end }}
      - name: tmp
        mountPath: /tmp
      {{- with .Values.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "idbridge.fullname" . }}
  {{- if .Values.secrets.existingSecret }}
  - name: secrets
    secret:
      secretName: {{ .Values.secrets.existingSecret }}
      # 0440: readable by the owner and fsGroup, never by others (idbridge warns otherwise).
      defaultMode: 288
      {{- with .Values.secrets.items }}
      items:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- end }}
  {{- if .Values.persistence.enabled }}
  - name: data
    persistentVolumeClaim:
      claimName: {{ include "idbridge.claimName" . }}
  {{- end }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmp.sizeLimit }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
