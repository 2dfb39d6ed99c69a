{{- /*
    Our own helpers. Nothing here includes z2jh's (jupyterhub.*) templates, so this chart
    renders without its subchart too; where we need a name z2jh gives its objects, we
    compute it the same way (templates/_helpers-names.tpl of z2jh 4.4.0).
*/}}

{{- /*
    z2jh's prefix of every name (its "jupyterhub.fullname"): jupyterhub.fullnameOverride if
    it is a string (z2jh's default "" gives the plain names hub, proxy-public, ...), else
    the release name, with "-<nameOverride or jupyterhub>" unless the release name holds it.
*/}}
{{- define "aglais-hub.z2jh.fullname" -}}
    {{- $z2jh := .Values.jupyterhub | default dict }}
    {{- if eq (typeOf $z2jh.fullnameOverride) "string" }}
        {{- $z2jh.fullnameOverride }}
    {{- else }}
        {{- $name := $z2jh.nameOverride | default "jupyterhub" }}
        {{- if contains $name .Release.Name }}
            {{- .Release.Name }}
        {{- else }}
            {{- .Release.Name }}-{{ $name }}
        {{- end }}
    {{- end }}
{{- end }}

{{- /* The prefix with a dash, or nothing ("jupyterhub.fullname.dash"). */}}
{{- define "aglais-hub.z2jh.prefix" -}}
    {{- with include "aglais-hub.z2jh.fullname" . }}{{ . }}-{{ end }}
{{- end }}

{{- /* The hub's Service, and its Secret, which holds every hub.services.<name>.apiToken. */}}
{{- define "aglais-hub.z2jh.hub" -}}
    {{- include "aglais-hub.z2jh.prefix" . }}hub
{{- end }}

{{- /* The labels z2jh's pods are selected by ("jupyterhub.matchLabels"); argument: (list . component). */}}
{{- define "aglais-hub.z2jh.matchLabels" -}}
{{- $root := index . 0 }}
{{- $z2jh := $root.Values.jupyterhub | default dict }}
component: {{ index . 1 }}
app: {{ $z2jh.nameOverride | default "jupyterhub" | trunc 63 | trimSuffix "-" }}
release: {{ $root.Release.Name }}
{{- end }}

{{- /* The booking service's objects: named beside z2jh's (booking next to hub, proxy-public). */}}
{{- define "aglais-hub.booking.fullname" -}}
    {{- include "aglais-hub.z2jh.prefix" . }}booking
{{- end }}

{{- define "aglais-hub.booking.selectorLabels" -}}
app.kubernetes.io/name: aglais-hub
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: booking
{{- end }}

{{- define "aglais-hub.labels" -}}
{{ include "aglais-hub.booking.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- /* The hub's base URL with one slash at each end ("/" by default). */}}
{{- define "aglais-hub.baseUrl" -}}
    {{- $z2jh := .Values.jupyterhub | default dict }}
    {{- $hub := $z2jh.hub | default dict }}
    {{- printf "/%s/" (trimAll "/" ($hub.baseUrl | default "/")) | replace "//" "/" }}
{{- end }}

{{- /* Where the booking service is mounted: <baseUrl>services/booking/ */}}
{{- define "aglais-hub.booking.prefix" -}}
    {{- include "aglais-hub.baseUrl" . }}services/booking/
{{- end }}

{{- /* `.` random hex characters (our own, as z2jh's jupyterhub.randHex is not ours to call). */}}
{{- define "aglais-hub.randHex" -}}
    {{- range $i := until . }}{{ mod (randNumeric 4 | atoi) 16 | printf "%x" }}{{ end }}
{{- end }}

{{- /*
    The booking service's cookie secret: the value, else what our Secret already holds (kept
    across upgrades: every replica, old and new, signs with it), else a new one. `lookup`
    answers nothing offline (helm template), as for z2jh's own generated secrets.
*/}}
{{- define "aglais-hub.booking.cookieSecret" -}}
    {{- if .Values.booking.cookieSecret }}
        {{- .Values.booking.cookieSecret }}
    {{- else }}
        {{- $state := lookup "v1" "Secret" .Release.Namespace (include "aglais-hub.booking.fullname" .) | default (dict "data" (dict)) }}
        {{- if hasKey ($state.data | default dict) "cookie-secret" }}
            {{- index $state.data "cookie-secret" | b64dec }}
        {{- else }}
            {{- include "aglais-hub.randHex" 64 }}
        {{- end }}
    {{- end }}
{{- end }}

{{- /*
    The calendar feeds' key (BookingService.feed_secret, docs/security.md): as the cookie
    secret, the value, else what our Secret already holds, else a new one. Kept across
    upgrades: a new key would turn every user's feed off.
*/}}
{{- define "aglais-hub.booking.feedSecret" -}}
    {{- if .Values.booking.feedSecret }}
        {{- .Values.booking.feedSecret }}
    {{- else }}
        {{- $state := lookup "v1" "Secret" .Release.Namespace (include "aglais-hub.booking.fullname" .) | default (dict "data" (dict)) }}
        {{- if hasKey ($state.data | default dict) "feed-secret" }}
            {{- index $state.data "feed-secret" | b64dec }}
        {{- else }}
            {{- include "aglais-hub.randHex" 64 }}
        {{- end }}
    {{- end }}
{{- end }}

{{- /* The traitlets config file of the booking service: booking.config, and the hub's level groups. */}}
{{- define "aglais-hub.booking.config" -}}
    {{- $config := deepCopy (.Values.booking.config | default dict) }}
    {{- $groups := dig "hub" "config" "Levels" "groups" list (.Values.jupyterhub | default dict) }}
    {{- if $groups }}
        {{- /* the levels are the hub's groups: the service maps the same names (configure_booking_service does so for a hub-managed one) */}}
        {{- $levels := dict }}
        {{- range $number, $group := $groups }}
            {{- $_ := set $levels $group $number }}
        {{- end }}
        {{- $policy := deepCopy ($config.LevelPolicy | default dict) }}
        {{- $_ := set $policy "group_levels" (merge ($policy.group_levels | default dict) $levels) }}
        {{- $_ := set $config "LevelPolicy" $policy }}
    {{- end }}
    {{- /* the lifecycle's own keys (booking.platforms, notices, ...): under what config.BookingService sets */}}
    {{- $options := include "aglais-hub.booking.options" . | fromJson }}
    {{- if $options }}
        {{- $_ := set $config "BookingService" (merge (deepCopy ($config.BookingService | default dict)) $options) }}
    {{- end }}
    {{- $config | toPrettyJson }}
{{- end }}

{{- /*
    BookingService options from booking.platforms, .notices, .ical, .reclaimUnstartedMinutes,
    .series and .preparation.callbackUrl (JSON): only those set (null or "" leaves the
    service's default). The workers themselves go to $AGLAIS_PREPARATION_WORKERS
    (aglais-hub.booking.workers), as their tokens come from Secrets.
*/}}
{{- define "aglais-hub.booking.options" -}}
    {{- $b := .Values.booking }}
    {{- $options := dict }}
    {{- $keys := list
        (list "notices" "beforeStartMinutes" "notify_before_start")
        (list "notices" "beforeEndMinutes" "notify_before_end")
        (list "notices" "beforeOfferExpiryMinutes" "notify_before_offer_expiry")
        (list "notices" "mail" "mail_notices")
        (list "ical" "publicUrl" "public_url")
        (list "ical" "maxEvents" "ical_max_events")
        (list "ical" "pastDays" "ical_past_days")
        (list "ical" "cancelledDays" "ical_cancelled_days")
        (list "ical" "refreshMinutes" "ical_refresh_minutes")
        (list "ical" "limit" "ical_limit")
        (list "ical" "limitAddress" "ical_limit_address")
        (list "series" "maxOccurrences" "max_series_occurrences")
        (list "series" "maxDays" "max_series_days") }}
    {{- range $keys }}
        {{- $value := index (index $b (index . 0) | default dict) (index . 1) }}
        {{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
            {{- $_ := set $options (index . 2) $value }}
        {{- end }}
    {{- end }}
    {{- with $b.reclaimUnstartedMinutes }}
        {{- $_ := set $options "reclaim_unstarted_minutes" . }}
    {{- end }}
    {{- if $b.platforms }}
        {{- $platforms := list }}
        {{- range $b.platforms }}
            {{- if hasKey . "token" }}
                {{- fail (printf "booking.platforms: platform '%s' has an inline token; give tokenSecret: {name, key} (a Secret), so it is not in a ConfigMap" .name) }}
            {{- end }}
            {{- $entry := omit . "tokenSecret" }}
            {{- if .tokenSecret }}
                {{- $_ := set $entry "token_file" (printf "/etc/aglais/platform-tokens/%s" .name) }}
            {{- end }}
            {{- $platforms = append $platforms $entry }}
        {{- end }}
        {{- $_ := set $options "platforms" $platforms }}
    {{- end }}
    {{- $preparation := $b.preparation | default dict }}
    {{- if $preparation.workers }}
        {{- $_ := set $options "callback_url" ($preparation.callbackUrl | default (printf "http://%s.%s.svc:10101%sapi/v1/callbacks/" (include "aglais-hub.booking.fullname" .) .Release.Namespace (include "aglais-hub.booking.prefix" .))) }}
    {{- else if $preparation.callbackUrl }}
        {{- $_ := set $options "callback_url" $preparation.callbackUrl }}
    {{- end }}
    {{- $options | toJson }}
{{- end }}

{{- /* $AGLAIS_PREPARATION_WORKERS (JSON) from booking.preparation.workers: each token as
    $(AGLAIS_PREPARATION_TOKEN_<n>), an earlier variable of the container read from its Secret. */}}
{{- define "aglais-hub.booking.workers" -}}
    {{- $workers := dict }}
    {{- $given := .Values.booking.preparation.workers }}
    {{- range $n, $kind := keys $given | sortAlpha }}
        {{- $w := index $given $kind }}
        {{- $entry := dict "url" $w.url "quote_seconds" ($w.quoteSeconds | default 0) }}
        {{- if $w.bytesPerSecond }}
            {{- $_ := set $entry "bytes_per_second" $w.bytesPerSecond }}
        {{- end }}
        {{- if $w.tokenSecret }}
            {{- $_ := set $entry "token" (printf "$(AGLAIS_PREPARATION_TOKEN_%d)" $n) }}
        {{- end }}
        {{- $_ := set $workers $kind $entry }}
    {{- end }}
    {{- $workers | toJson }}
{{- end }}

{{- /* The ports (unique, as strings) of the platforms' and the workers' URLs: the booking
    NetworkPolicy's egress to them. */}}
{{- define "aglais-hub.booking.outboundPorts" -}}
    {{- $urls := list }}
    {{- range .Values.booking.platforms }}
        {{- if .url }}{{ $urls = append $urls .url }}{{ end }}
    {{- end }}
    {{- range $kind, $w := .Values.booking.preparation.workers }}
        {{- $urls = append $urls $w.url }}
    {{- end }}
    {{- $ports := list }}
    {{- range $urls }}
        {{- $u := urlParse . }}
        {{- $port := ternary "443" "80" (eq $u.scheme "https") }}
        {{- with regexFind ":[0-9]+$" $u.host }}
            {{- $port = trimPrefix ":" . }}
        {{- end }}
        {{- $ports = append $ports $port }}
    {{- end }}
    {{- $ports | uniq | sortAlpha | toJson }}
{{- end }}

{{- /* The selector of a Spark session's executor pods (Spark's label and the spawner's). */}}
{{- define "aglais-hub.spark.executors" -}}
matchLabels:
  spark-role: executor
matchExpressions:
  - key: aglais.io/session
    operator: Exists
{{- end }}

{{- /* The projected volume's sources of the platforms' tokens: each its Secret's key as a
    file named after the platform; empty without any. */}}
{{- define "aglais-hub.booking.platformTokens" -}}
    {{- range $platform := .Values.booking.platforms }}
        {{- with $platform.tokenSecret }}
- secret:
    name: {{ .name }}
    items:
      - key: {{ .key }}
        path: {{ $platform.name }}
        {{- end }}
    {{- end }}
{{- end }}
