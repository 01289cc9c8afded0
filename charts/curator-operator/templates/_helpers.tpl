{{/*
The chart name, or nameOverride.
*/}}
{{- define "curator-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else "<release>-<name>", or just the
release name when it already contains the chart name.
*/}}
{{- define "curator-operator.fullname" -}}
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

{{/*
"<chart>-<version>", for the helm.sh/chart label.
*/}}
{{- define "curator-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The seconds of a Go duration ("10s", "1m30s", "500ms"), rounded up.
*/}}
{{- define "curator-operator.durationSeconds" -}}
{{- $scale := dict "h" 3600.0 "m" 60.0 "s" 1.0 "ms" 0.001 "us" 0.000001 "µs" 0.000001 "ns" 0.000000001 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 -}}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" . | float64 -}}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" . "" -}}
{{- $total = addf $total (mulf $n (get $scale $unit)) -}}
{{- end -}}
{{- ceil $total | int -}}
{{- end }}

{{/*
Seconds between SIGTERM and SIGKILL: the operator's longest way out is a Temporal call in flight
(temporalTimeout) and then the Lease release (at most 1 s); 2 s more is the least allowed, 5 s
more the default.
*/}}
{{- define "curator-operator.terminationGracePeriodSeconds" -}}
{{- $call := include "curator-operator.durationSeconds" .Values.temporalTimeout | int -}}
{{- $least := add $call 2 -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $call 5 -}}
{{- else if lt (int .Values.terminationGracePeriodSeconds) $least -}}
{{- fail (printf "terminationGracePeriodSeconds %d is shorter than the operator's longest way out, temporalTimeout + 2 s = %d s: it would be killed before it gives up its Lease" (int .Values.terminationGracePeriodSeconds) $least) -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds | int -}}
{{- end -}}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "curator-operator.labels" -}}
helm.sh/chart: {{ include "curator-operator.chart" . }}
{{ include "curator-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: buun-curator
{{- end }}

{{/*
Labels that select the operator pods (immutable in the Deployment's selector: keep them stable).
*/}}
{{- define "curator-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "curator-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "curator-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "curator-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image.
*/}}
{{- define "curator-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The leader-election Lease name.
*/}}
{{- define "curator-operator.leaseName" -}}
{{- default (include "curator-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The container port of the http server (/livez, /readyz, /metrics). The Dockerfile EXPOSEs the
default, 8080.
*/}}
{{- define "curator-operator.httpPort" -}}
{{- .Values.httpPort | int }}
{{- end }}

{{/*
The rules the operator needs on its own resources and the objects it manages, cluster-wide
(ClusterRole) or in each watched namespace (Role). Leases are not here: they are only needed in
the release namespace (rbac.yaml).
*/}}
{{- define "curator-operator.managerRules" -}}
# Watch and reconcile FeedSources and CuratorWorkers; patch adds and removes the finalizer
# (JSON patch). No create, update or delete: users own these objects.
- apiGroups: ["curator.buun.dev"]
  resources: ["feedsources", "curatorworkers"]
  verbs: ["get", "list", "watch", "patch"]
# Write status (observedGeneration, conditions, schedule and scaling state) by patch only.
- apiGroups: ["curator.buun.dev"]
  resources: ["feedsources/status", "curatorworkers/status"]
  verbs: ["get", "patch"]
# Owner references with blockOwnerDeletion on the worker Deployments and PDBs require update on
# the owner's finalizers subresource (OwnerReferencesPermissionEnforcement). Only CuratorWorkers
# own objects; the operator's finalizer on a FeedSource is set by a patch of the FeedSource.
- apiGroups: ["curator.buun.dev"]
  resources: ["curatorworkers/finalizers"]
  verbs: ["update"]
# The worker Deployment of each CuratorWorker: watched to revert drift and read ready replicas,
# written by server-side apply (create + patch). No delete: garbage collection removes it with
# its CuratorWorker.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch"]
# The worker PodDisruptionBudget: like the Deployment, plus delete, because a budget that is no
# longer wanted (spec.disruptionBudget off, or a single fixed replica) is removed.
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Read the TLS, API-key and buun-curator token Secrets a CuratorWorker names: the operator
# connects to that worker's Temporal frontend (and buun-curator's API) with them. And the keys
# of the Secrets and ConfigMaps its env and envFrom name, to check that the worker gets the
# settings it cannot start without (condition SettingsProvided). get only: no list or watch,
# so no Secret or ConfigMap is enumerated or cached.
- apiGroups: [""]
  resources: ["secrets", "configmaps"]
  verbs: ["get"]
# Record Events on FeedSources and CuratorWorkers; patch aggregates repeated events.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- define "curator-operator.claimRules" -}}
# FeedClaims (cluster-scoped): which FeedSource holds each buun-curator feed, and for which one
# the operator created it. Written by the operator only, so that no tenant can make the
# operator write to or delete another's feed; list finds a FeedSource's claims by label.
- apiGroups: ["curator.buun.dev"]
  resources: ["feedclaims"]
  verbs: ["get", "list", "create", "update", "delete"]
{{- end }}
