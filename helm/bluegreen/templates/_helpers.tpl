{{/*
Names and labels, and the one pod template every bluegreen process (worker, plan, verify, cutover) shares.
*/}}

{{- define "bluegreen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "bluegreen.fullname" -}}
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

{{/* Names of objects with a suffix; kept short enough for Job pod names (63 - 11 for a CronJob's job suffix). */}}
{{- define "bluegreen.component" -}}
{{- printf "%s-%s" (include "bluegreen.fullname" .root | trunc (int (sub 52 (len .name))) | trimSuffix "-") .name }}
{{- end }}

{{- define "bluegreen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bluegreen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "bluegreen.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "bluegreen.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bluegreen
{{- end }}

{{- define "bluegreen.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bluegreen.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "bluegreen.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{- define "bluegreen.specPath" -}}/etc/bluegreen/spec.yaml{{- end }}

{{/*
The spec as rendered into the ConfigMap. Refuses credentials written into it: they belong in Secrets.
*/}}
{{- define "bluegreen.specYaml" -}}
{{- $spec := required "spec is required: the migration spec (README \"The migration spec\")" .Values.spec }}
{{- $_ := required "spec.migration is required" $spec.migration }}
{{- range $side := list "source" "target" }}
{{- $ep := get $spec $side | default dict }}
{{- $auth := get $ep "auth" | default dict }}
{{- if or (hasKey $auth "password") (hasKey $auth "apiKey") }}
{{- fail (printf "spec.%s.auth holds a password or apiKey: credentials never go in values. Put them in a Secret and name it in credentials.%s.secretName (README \"Running on Kubernetes\")." $side $side) }}
{{- end }}
{{- end }}
{{- toYaml $spec }}
{{- end }}

{{/* A short hash of what a Job runs, so a changed spec, image or flag makes a new (immutable) Job. */}}
{{- define "bluegreen.runHash" -}}
{{- list (include "bluegreen.specYaml" .root) (include "bluegreen.image" .root) .args .root.Values.extraEnv .root.Values.credentials | toJson | sha256sum | trunc 8 }}
{{- end }}

{{/* env of every bluegreen container: logging, the port, credentials from Secrets, extras. */}}
{{- define "bluegreen.env" -}}
- name: BLUEGREEN_SPEC
  value: {{ include "bluegreen.specPath" . }}
- name: BLUEGREEN_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
- name: BLUEGREEN_LOG_LEVEL
  value: {{ .Values.log.level | quote }}
- name: BLUEGREEN_HTTP_PORT
  value: {{ .Values.httpPort | quote }}
{{- with .Values.nodeOptions }}
- name: NODE_OPTIONS
  value: {{ . | quote }}
{{- end }}
{{- $optional := .Values.credentials.optional }}
{{- range $side := list "source" "target" }}
{{- $c := get $.Values.credentials $side }}
{{- if $c.secretName }}
{{- range $var, $keyField := dict "USERNAME" "usernameKey" "PASSWORD" "passwordKey" "API_KEY" "apiKeyKey" }}
{{- $key := get $c $keyField }}
{{- if $key }}
- name: BLUEGREEN_{{ upper $side }}_{{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $c.secretName | quote }}
      key: {{ $key | quote }}
      optional: {{ $optional }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The pod spec of a bluegreen process. Call with dict:
  root       the top context
  component  worker | plan | verify | cutover (container name too)
  args       the command line after the entry point
  resources  requests/limits
  serve      true when the process serves /metrics, /healthz, /readyz
  restartPolicy, probes (dict with readinessProbe/livenessProbe), grace (seconds), extra (dict merged into the pod spec)
*/}}
{{- define "bluegreen.podSpec" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ include "bluegreen.serviceAccountName" $root }}
automountServiceAccountToken: {{ $v.automountServiceAccountToken }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if .restartPolicy }}
restartPolicy: {{ .restartPolicy }}
{{- end }}
{{- if .grace }}
terminationGracePeriodSeconds: {{ .grace }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
containers:
  - name: {{ .component }}
    image: {{ include "bluegreen.image" $root | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      {{- include "bluegreen.env" $root | nindent 6 }}
    {{- with $v.extraEnvFrom }}
    envFrom:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if .serve }}
    ports:
      - name: http
        containerPort: {{ $v.httpPort }}
        protocol: TCP
    {{- end }}
    {{- with .probes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    volumeMounts:
      - name: spec
        mountPath: /etc/bluegreen
        readOnly: true
      # The root file system is read-only; Node and libraries may still want a scratch directory.
      - name: tmp
        mountPath: /tmp
volumes:
  - name: spec
    configMap:
      name: {{ include "bluegreen.component" (dict "root" $root "name" "spec") }}
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod metadata shared by every process: labels, the spec checksum (a new spec rolls the workers). */}}
{{- define "bluegreen.podMetadata" -}}
labels:
  {{- include "bluegreen.selectorLabels" .root | nindent 2 }}
  app.kubernetes.io/component: {{ .component }}
  {{- if .serve }}
  bluegreen.io/metrics: "true"
  {{- end }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/spec: {{ include "bluegreen.specYaml" .root | sha256sum }}
  {{- with .root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Job spec fields shared by plan, verify and cutover Jobs (and the CronJobs' job templates). */}}
{{- define "bluegreen.jobSpec" -}}
{{- $j := .root.Values.jobs }}
backoffLimit: {{ $j.backoffLimit }}
{{- with $j.activeDeadlineSeconds }}
activeDeadlineSeconds: {{ . }}
{{- end }}
{{- with $j.ttlSecondsAfterFinished }}
ttlSecondsAfterFinished: {{ . }}
{{- end }}
{{- if $j.podFailurePolicy }}
podFailurePolicy:
  rules:
    # 2 = bad input, 5 = persistent differences: a retry would say the same.
    - action: FailJob
      onExitCodes:
        containerName: {{ .component }}
        operator: In
        values: [2, 5]
    # An evicted or preempted pod is not a failure of the job.
    - action: Ignore
      onPodConditions:
        - type: DisruptionTarget
{{- end }}
template:
  metadata:
    {{- include "bluegreen.podMetadata" . | nindent 4 }}
  spec:
    {{- include "bluegreen.podSpec" (merge (dict "restartPolicy" "Never" "resources" $j.resources) .) | trim | nindent 4 }}
{{- end }}
