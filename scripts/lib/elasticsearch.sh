# Elasticsearch legacy 7.17.x and new 8.x, from the integ-test-zip distribution on Maven Central
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip). Sourced by scripts/stack.
#
# That zip has no bundled JDK and only a few modules (transport-netty4, x-pack-core, x-pack-security;
# 8.x adds apm): no analysis-common, no reindex, no ingest-geoip, no painless. Keep test mappings to
# core types and the standard/keyword/whitespace/simple analyzers. On 8.x it also lacks rest-root
# (`GET /`); scripts/elasticsearch/rest-root is our small stand-in, built here at install time.
#
# Instances: legacy ($ES_LEGACY_VERSION on $BG_ES_LEGACY_PORT), new ($ES_NEW_VERSION on $BG_ES_NEW_PORT);
# on demand only (`scripts/stack up --with es9,opensearch`): es9 ($ES9_VERSION on $BG_ES9_PORT, the same
# integ-test-zip; its pid files and logs are named es9) and opensearch ($OPENSEARCH_VERSION on
# $BG_OPENSEARCH_PORT, org.opensearch.distribution.integ-test-zip:opensearch: no security plugin, no
# bundled JDK, run the same way with its OPENSEARCH_* variables; named opensearch), and opensearch2
# ($OPENSEARCH2_VERSION on $BG_OPENSEARCH2_PORT: an OpenSearch 2.x beside it, the source of a 2 → 3 copy).
# Each runs as the unprivileged user $BG_ES_USER (Elasticsearch refuses to run as root) with its
# config copy, data, logs and temp dir under $STACK_DATA/es-<inst>. The pid file $STACK_RUN/es-<inst>.pid
# holds the pid of the Elasticsearch server JVM itself (written by Elasticsearch's own `-p`); on 8.x
# the CLI launcher JVM that spawned it is kept in $STACK_RUN/es-<inst>.launcher.pid and stopped after it.
#
# Java: BG_ES_LEGACY_JAVA_HOME / BG_ES_NEW_JAVA_HOME (or BG_ES_JAVA_HOME for both) when set; otherwise
# the first JDK, $JAVA_HOME then /usr/lib/jvm/*, that the version accepts (7.x: 8..23, because it
# needs the Security Manager that JDK 24 removed; 8.x: 17+; 9.x: 21+). es9 and opensearch: BG_ES9_JAVA_HOME,
# BG_OPENSEARCH_JAVA_HOME (OpenSearch 2.x: Java 11..21, 3.x: 21+).

BG_ES_USER="${BG_ES_USER:-bluegreen-es}"
BG_ES_WAIT="${BG_ES_WAIT:-180}"

es_check_inst() { case "$1" in legacy|new|es9|opensearch|opensearch2) ;; *) die "unknown Elasticsearch instance '$1' (use legacy, new, es9, opensearch or opensearch2)";; esac; }
es_version_of() {
  case "$1" in legacy) echo "$ES_LEGACY_VERSION";; new) echo "$ES_NEW_VERSION";; es9) echo "$ES9_VERSION";; opensearch) echo "$OPENSEARCH_VERSION";; opensearch2) echo "$OPENSEARCH2_VERSION";; esac
}
es_http_port() {
  case "$1" in legacy) echo "$BG_ES_LEGACY_PORT";; new) echo "$BG_ES_NEW_PORT";; es9) echo "$BG_ES9_PORT";; opensearch) echo "$BG_OPENSEARCH_PORT";; opensearch2) echo "$BG_OPENSEARCH2_PORT";; esac
}
es_transport_port() {
  case "$1" in
    legacy) echo "$BG_ES_LEGACY_TRANSPORT_PORT";; new) echo "$BG_ES_NEW_TRANSPORT_PORT";;
    es9) echo "$BG_ES9_TRANSPORT_PORT";; opensearch) echo "$BG_OPENSEARCH_TRANSPORT_PORT";;
    opensearch2) echo "$BG_OPENSEARCH2_TRANSPORT_PORT";;
  esac
}
# es_port_var INST SUFFIX: the name of the variable that sets a port (for messages).
es_port_var() { case "$1" in legacy|new) echo "BG_ES_${1^^}_$2";; *) echo "BG_${1^^}_$2";; esac; }
# es_dist INST: elasticsearch or opensearch (the distribution's name: zip, folder, bin/, config file, env prefix).
es_dist() { case "$1" in opensearch*) echo opensearch;; *) echo elasticsearch;; esac; }
es_label() { case "$1" in opensearch*) echo OpenSearch;; *) echo Elasticsearch;; esac; }
# es_name INST: the stack's name for the server (pid file, log): es-legacy, es-new, es9, opensearch, opensearch2.
es_name() { case "$1" in legacy|new) echo "es-$1";; *) echo "$1";; esac; }
es_home() { echo "$STACK_CACHE/$(es_dist "$1")-$(es_version_of "$1")"; }
es_dir() { echo "$(es_place)/$(es_name "$1")"; }

# Where the server user works. Normally inside the stack folder; but a checkout under a private folder
# (root's home, a `mktemp -d`, mode 700) is out of that user's reach. Then the distribution runs from a
# copy under $BG_ES_PLACE_ROOT/dist (one per version and build of our GET / module, shared by every
# such checkout), and each stack folder's server data lives under $BG_ES_PLACE_ROOT/<hash of the folder>,
# scratch that `down` removes (nothing outside the checkout is left behind). Logs and pid files stay in
# the stack folder as usual.
BG_ES_PLACE_ROOT="${BG_ES_PLACE_ROOT:-/var/tmp/bluegreen-es}"
es_private_checkout() {
  [ "$(id -u)" -eq 0 ] || return 1
  id -u "$BG_ES_USER" >/dev/null 2>&1 || return 1
  ! es_as_user test -x "$STACK_DIR" 2>/dev/null
}
es_place() {
  if es_private_checkout; then echo "$BG_ES_PLACE_ROOT/$(printf '%s' "$STACK_DIR" | sha256sum | cut -c1-12)"; else echo "$STACK_DATA"; fi
}
# es_run_home INST: the distribution the server runs from: the cached one, or a copy the server user can read.
es_run_home() {
  local home; home="$(es_home "$1")"
  if ! es_private_checkout; then echo "$home"; return 0; fi
  local stamp copy tmp
  stamp="$(cat "$home/modules/bluegreen-rest-root/.stamp" 2>/dev/null | sha256sum | cut -c1-12)"
  copy="$BG_ES_PLACE_ROOT/dist/$(basename "$home")-$stamp"
  if [ ! -f "$copy/.complete" ]; then
    say "the stack folder $STACK_DIR is private to root: copying $(basename "$home") to $copy for user $BG_ES_USER"
    mkdir -p "$BG_ES_PLACE_ROOT/dist"; chmod 755 "$BG_ES_PLACE_ROOT" "$BG_ES_PLACE_ROOT/dist"
    tmp="$(mktemp -d "$BG_ES_PLACE_ROOT/dist/.copy.XXXXXX")"
    cp -R "$home/." "$tmp/"; chmod -R a+rX,go-w "$tmp"; chmod 755 "$tmp"
    # Another run may have finished the same copy meanwhile: keep the first, drop ours.
    if ! mv -T "$tmp" "$copy" 2>/dev/null; then rm -rf "$tmp"; fi
  fi
  echo "$copy"
}

es_url() { es_check_inst "$1"; echo "http://$BG_HOST:$(es_http_port "$1")"; }

# es_version INST: version.number from GET / (or, should that endpoint be missing, the local node's
# version from _nodes); empty (exit 0) when the node does not answer.
es_version() {
  local url body
  url="$(es_url "$1")"
  if body="$(curl -fsS -m 5 "$url/" 2>/dev/null)"; then
    printf '%s' "$body" | tr -d '\n' | sed -n 's/.*"number"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
  elif body="$(curl -fsS -m 5 "$url/_nodes/_local?filter_path=nodes.*.version" 2>/dev/null)"; then
    printf '%s' "$body" | sed -n 's/.*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
  fi
  return 0
}

# es_java_major JAVA_HOME: the feature version of that JDK (8 for 1.8), empty when it has no java.
es_java_major() {
  [ -x "$1/bin/java" ] || return 0
  "$1/bin/java" -version 2>&1 | sed -n '1s/^[^"]*"\([0-9][0-9]*\)\(\.\([0-9][0-9]*\)\)\{0,1\}.*/\1 \3/p' |
    awk '{ print ($1 == 1 ? $2 : $1) }'
}

# es_java_ok ES_VERSION JAVA_MAJOR [DIST]: does that Elasticsearch (or OpenSearch) version run on that Java?
es_java_ok() {
  local es_major="${1%%.*}" j="$2"
  [ -n "$j" ] || return 1
  if [ "${3:-elasticsearch}" = opensearch ]; then
    case "$es_major" in 1|2) [ "$j" -ge 11 ] && [ "$j" -le 21 ];; *) [ "$j" -ge 21 ];; esac
    return
  fi
  case "$es_major" in
    7) [ "$j" -ge 8 ] && [ "$j" -le 23 ];;
    8) [ "$j" -ge 17 ];;
    *) [ "$j" -ge 21 ];;
  esac
}

# es_java_home INST: the JDK to run INST with (see the header); dies when none fits.
es_java_home() {
  local inst="$1" v want cand j
  v="$(es_version_of "$inst")"
  case "$inst" in
    legacy) want="${BG_ES_LEGACY_JAVA_HOME:-${BG_ES_JAVA_HOME:-}}";;
    new) want="${BG_ES_NEW_JAVA_HOME:-${BG_ES_JAVA_HOME:-}}";;
    es9) want="${BG_ES9_JAVA_HOME:-}";;
    opensearch) want="${BG_OPENSEARCH_JAVA_HOME:-}";;
    opensearch2) want="${BG_OPENSEARCH2_JAVA_HOME:-}";;
  esac
  local dist; dist="$(es_dist "$inst")"
  if [ -n "$want" ]; then
    j="$(es_java_major "$want")"
    [ -n "$j" ] || die "no java at $want/bin/java (BG_*JAVA_HOME)"
    es_java_ok "$v" "$j" "$dist" || say "warning: Elasticsearch $v is not known to run on Java $j ($want); trying anyway"
    echo "$want"; return 0
  fi
  for cand in "$JAVA_HOME" /usr/lib/jvm/*; do
    [ -d "$cand" ] || continue
    j="$(es_java_major "$cand")"
    if es_java_ok "$v" "$j" "$dist"; then readlink -f "$cand"; return 0; fi
  done
  die "no JDK found that $(es_label "$inst") $v accepts (Elasticsearch 7.x: Java 8-23, 8.x: 17+, 9.x: 21+; OpenSearch 2.x: 11-21, 3.x: 21+); set $(es_port_var "$inst" JAVA_HOME)"
}

# es_runas_prefix: prints, one word a line, the command prefix that runs a program (exec'ed, same pid)
# as $BG_ES_USER when we are root; nothing when we are not root (then the node runs as ourselves).
es_runas_prefix() {
  [ "$(id -u)" -eq 0 ] || return 0
  if command -v setpriv >/dev/null 2>&1; then
    printf '%s\n' setpriv --reuid="$BG_ES_USER" --regid="$BG_ES_USER" --init-groups
  else
    printf '%s\n' runuser -u "$BG_ES_USER" --
  fi
}

es_as_user() {
  local runas=(); mapfile -t runas < <(es_runas_prefix)
  ${runas[@]+"${runas[@]}"} "$@"
}

es_user_ensure() {
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$BG_ES_USER" >/dev/null 2>&1 && return 0
  say "creating system user $BG_ES_USER (Elasticsearch refuses to run as root)"
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    "$BG_ES_USER" >/dev/null 2>&1 || id -u "$BG_ES_USER" >/dev/null 2>&1 ||
    die "could not create the system user $BG_ES_USER (useradd failed)"
}

# es_unpack INST: fetch (cached) and unpack the distribution of INST into its own cached folder, once.
es_unpack() {
  local v zip home tmp d
  v="$(es_version_of "$1")"; home="$(es_home "$1")"; d="$(es_dist "$1")"; zip="$STACK_CACHE/$d-$v.zip"
  [ -f "$home/.complete" ] && return 0
  maven_fetch "org.$d.distribution.integ-test-zip:$d:$v:zip" "$zip"
  say "unpacking $(es_label "$1") $v into $home"
  tmp="$(mktemp -d "$STACK_CACHE/.unpack.XXXXXX")"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q "$zip" -d "$tmp" || { rm -rf "$tmp"; die "could not unpack $zip (delete it to download again)"; }
  else
    (cd "$tmp" && "$JAVA_HOME/bin/jar" xf "$zip") || { rm -rf "$tmp"; die "could not unpack $zip (delete it to download again)"; }
  fi
  [ -x "$tmp/$d-$v/bin/$d" ] || [ -f "$tmp/$d-$v/bin/$d" ] ||
    { rm -rf "$tmp"; die "$zip does not hold $d-$v/bin/$d"; }
  rm -rf "$home"
  mv "$tmp/$d-$v" "$home"
  rm -rf "$tmp"
  # Read-only for the server user; `jar xf` drops the executable bits.
  chmod -R a+rX,go-w "$home"
  chmod a+x "$home"/bin/*
  touch "$home/.complete"
}

# es_root_endpoint INST: the 8.x integ-test-zip lacks the rest-root module, so `GET /` answers 405 there.
# Build (javac against the distribution's own jars) and add a small module of ours that serves
# GET/HEAD / like a full distribution does; rebuilt only when its source or the version changes.
# Best effort: when it does not compile (another 8.x API), warn and go on without it.
es_root_endpoint() {
  local inst="$1" v home src target stamp jdk tmp
  v="$(es_version_of "$inst")"; home="$(es_home "$inst")"
  src="$STACK_REPO/scripts/elasticsearch/rest-root/src"; target="$home/modules/bluegreen-rest-root"
  [ "$(es_dist "$inst")" = elasticsearch ] || return 0   # OpenSearch serves GET / from its core
  [ "${v%%.*}" -ge 8 ] 2>/dev/null || return 0
  [ -d "$home/modules/rest-root" ] && return 0
  local sources=(); mapfile -t sources < <(find "$src" -name '*.java' | sort)
  [ ${#sources[@]} -gt 0 ] || die "no sources in $src"
  stamp="$v $(cat "${sources[@]}" | sha256sum | cut -c1-16)"
  [ "$(cat "$target/.stamp" 2>/dev/null)" = "$stamp" ] && return 0
  jdk="$(es_java_home "$inst")"; [ -x "$jdk/bin/javac" ] || jdk="$JAVA_HOME"
  say "building the GET / endpoint module for Elasticsearch $v (its integ-test-zip has none)"
  tmp="$(mktemp -d "$STACK_CACHE/.esroot.XXXXXX")"
  if ! "$jdk/bin/javac" --release 17 -proc:none -nowarn -d "$tmp/classes" -cp "$home/lib/*" \
        "${sources[@]}" >"$tmp/javac.log" 2>&1 ||
     ! "$jdk/bin/jar" cf "$tmp/bluegreen-rest-root.jar" -C "$tmp/classes" . >>"$tmp/javac.log" 2>&1; then
    cat "$tmp/javac.log" >&2
    say "warning: could not build the GET / module for Elasticsearch $v; $(es_name "$inst") will answer 405 on GET /"
    rm -rf "$tmp"; return 0
  fi
  mkdir -p "$tmp/module"
  mv "$tmp/bluegreen-rest-root.jar" "$tmp/module/"
  cat >"$tmp/module/plugin-descriptor.properties" <<PROPS
description=bluegreen test stack: GET / (node, cluster and version) for the integ-test-zip
version=$v
name=bluegreen-rest-root
classname=bluegreen.esroot.RootEndpointPlugin
java.version=17
elasticsearch.version=$v
PROPS
  echo "$stamp" >"$tmp/module/.stamp"
  rm -rf "$target"; mv "$tmp/module" "$target"; rm -rf "$tmp"
  chmod -R a+rX,go-w "$target"
}

elasticsearch_install() {
  es_user_ensure
  es_unpack legacy
  es_unpack new
  es_root_endpoint legacy
  es_root_endpoint new
}

# es_configure INST: a fresh per-instance ES_PATH_CONF under $STACK_DATA/es-INST, data/logs/tmp owned by the server user.
es_configure() {
  local inst="$1" v home dir conf d
  v="$(es_version_of "$inst")"; home="$(es_run_home "$inst")"; dir="$(es_dir "$inst")"; conf="$dir/config"; d="$(es_dist "$inst")"
  # Data written by another version may not be readable (or may be upgraded irreversibly): start clean then.
  if [ -d "$dir" ] && [ "$(cat "$dir/.version" 2>/dev/null)" != "$v" ]; then
    say "$(es_name "$inst"): data in $dir is not from $(es_label "$inst") $v, deleting it"
    rm -rf "$dir"
  fi
  mkdir -p "$dir/data" "$dir/logs" "$dir/tmp" "$dir/snapshots"
  echo "$v" >"$dir/.version"
  rm -f "$dir/es.pid"   # a stale one (after a kill -9) must not be mistaken for the new server's
  rm -rf "$conf"
  cp -R "$home/config" "$conf"
  # Only settings that the integ-test-zip's modules know: no ingest.geoip.* (no ingest-geoip module,
  # hence no GeoIP downloader phoning home), no xpack.ml.* / xpack.watcher.* (not shipped).
  cat >"$conf/$d.yml" <<YML
# Generated by scripts/lib/elasticsearch.sh on every start; edits are lost.
cluster.name: bluegreen-$(es_name "$inst")
node.name: $(es_name "$inst")
path.data: $dir/data
path.logs: $dir/logs
path.repo: $dir/snapshots
network.host: $BG_HOST
http.port: $(es_http_port "$inst")
transport.port: $(es_transport_port "$inst")
discovery.type: single-node
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
$([ "$d" = elasticsearch ] && echo 'xpack.security.enabled: false')
# CI hosts often keep vm.max_map_count at 65530; without mmap the node never runs out of map areas.
node.store.allow_mmap: false
YML
  # jvm.options: absolute paths for the GC log, error files and heap dumps (relative ones land in the
  # read-only distribution on 7.x), and a small GC-log rotation. The heap comes from ES_JAVA_OPTS.
  sed -e "s#\(-XX:HeapDumpPath=\).*#\1$dir/logs#" \
      -e "s#\(-XX:ErrorFile=\)\(logs/\)\{0,1\}#\1$dir/logs/#" \
      -e "s#\(file=\)\(logs/\)\{0,1\}gc\.log#\1$dir/logs/gc.log#" \
      -e "s#filecount=32,filesize=64m#filecount=4,filesize=16m#" \
      "$home/config/jvm.options" >"$conf/jvm.options"
  if [ "$(id -u)" -eq 0 ]; then chown -R "$BG_ES_USER:$BG_ES_USER" "$dir"; fi
}

# es_launch INST: start INST in the background (does not wait); no-op when it already runs.
es_launch() {
  local inst="$1" name v home dir jhome port tport d label
  name="$(es_name "$inst")"; d="$(es_dist "$inst")"; label="$(es_label "$inst")"
  v="$(es_version_of "$inst")"; home="$(es_home "$inst")"; dir="$(es_dir "$inst")"
  port="$(es_http_port "$inst")"; tport="$(es_transport_port "$inst")"
  if is_running "$name"; then
    say "$name already running (pid $(cat "$(pidfile "$name")"), $(es_url "$inst"))"
    return 0
  fi
  rm -f "$(pidfile "$name.launcher")"
  port_free "$port" || die "port $port ($name HTTP) is taken by another process; set $(es_port_var "$inst" PORT) to a free port"
  port_free "$tport" || die "port $tport ($name transport) is taken by another process; set $(es_port_var "$inst" TRANSPORT_PORT) to a free port"
  es_unpack "$inst"
  es_root_endpoint "$inst"
  es_user_ensure
  home="$(es_run_home "$inst")"
  jhome="$(es_java_home "$inst")"
  if [ "$(id -u)" -eq 0 ] && ! es_as_user test -r "$home/lib" -a -x "$jhome/bin/java"; then
    die "user $BG_ES_USER cannot read $home or run $jhome/bin/java (set BG_ES_JAVA_HOME to a JDK it can run, or BG_ES_PLACE_ROOT to a folder it can reach)"
  fi
  es_configure "$inst"
  say "starting $name: $label $v on $(es_url "$inst") (Java $(es_java_major "$jhome") from $jhome, heap $BG_ES_HEAP, user $(if [ "$(id -u)" -eq 0 ]; then echo "$BG_ES_USER"; else id -un; fi))"
  # A clean environment: nothing of the caller's (JAVA_HOME, ES_*, CLI_JAVA_OPTS) leaks into the node.
  # OpenSearch reads the same variables under its own prefix (OPENSEARCH_JAVA_HOME, ...).
  local runas=(); mapfile -t runas < <(es_runas_prefix)
  local p=ES; [ "$d" = opensearch ] && p=OPENSEARCH
  (cd "$dir" && start_bg "$name" ${runas[@]+"${runas[@]}"} env -i \
    PATH=/usr/local/bin:/usr/bin:/bin HOME="$dir" LANG=C.UTF-8 \
    "${p}_JAVA_HOME=$jhome" "${p}_PATH_CONF=$dir/config" "${p}_TMPDIR=$dir/tmp" \
    "${p}_JAVA_OPTS=-Xms$BG_ES_HEAP -Xmx$BG_ES_HEAP" \
    "$home/bin/$d" -p "$dir/es.pid")
}

# es_adopt_pid INST: once Elasticsearch wrote its own pid file, make it the stack's pid file (see the header).
es_adopt_pid() {
  local inst="$1" name dir f launcher pid deadline
  name="$(es_name "$inst")"
  dir="$(es_dir "$inst")"; f="$(pidfile "$name")"
  [ -f "$f" ] || return 0
  launcher="$(cat "$f")"
  [ -f "$(pidfile "$name.launcher")" ] && return 0   # already adopted
  deadline=$(( $(date +%s) + BG_ES_WAIT ))
  while :; do
    pid="$(cat "$dir/es.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then break; fi
    if ! kill -0 "$launcher" 2>/dev/null; then
      tail -n 40 "$STACK_LOGS/$name.log" >&2 2>/dev/null
      rm -f "$f"
      die "$name exited during start-up; full log: $STACK_LOGS/$name.log"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 40 "$STACK_LOGS/$name.log" >&2 2>/dev/null
      die "$name wrote no pid file within ${BG_ES_WAIT}s; full log: $STACK_LOGS/$name.log"
    fi
    sleep 0.5
  done
  if [ "$pid" != "$launcher" ]; then echo "$launcher" >"$(pidfile "$name.launcher")"; fi
  echo "$pid" >"$f"
}

elasticsearch_start() {
  es_launch legacy
  es_launch new
  es_adopt_pid legacy
  es_adopt_pid new
}

es_wait_for() {
  local deadline left inst
  deadline=$(( $(date +%s) + BG_ES_WAIT ))
  for inst in "$@"; do
    left=$(( deadline - $(date +%s) )); [ "$left" -gt 0 ] || left=1
    wait_for "$(es_name "$inst")" "$left" http_ok "$(es_url "$inst")/_cluster/health?wait_for_status=yellow&timeout=4s"
  done
}
elasticsearch_wait() { es_wait_for legacy new; }

# es_stop_one INST: by pid files only. On 8.x TERM the CLI launcher first when it is still the server's
# parent (it then stops its server cleanly, where a TERM to the server alone makes it log "exited
# unexpectedly"); then the server pid itself, which also covers 7.x and an orphaned server.
es_stop_one() {
  local name lf spid lpid
  name="$(es_name "$1")"
  lf="$(pidfile "$name.launcher")"
  if [ -f "$lf" ] && is_running "$name"; then
    spid="$(cat "$(pidfile "$name")")"; lpid="$(cat "$lf")"
    if [ -n "$lpid" ] && [ "$(ps -o ppid= -p "$spid" 2>/dev/null | tr -d ' ')" = "$lpid" ]; then
      say "stopping $name (launcher pid $lpid, server pid $spid)"
      kill -TERM "$lpid" 2>/dev/null || true
      local i=0
      while kill -0 "$spid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
    fi
  fi
  stop_pid "$name" 30
  if [ -f "$lf" ]; then
    # The launcher exits right after its server; give it a moment, and never signal a pid that is no
    # longer an Elasticsearch launcher of ours.
    lpid="$(cat "$lf")"; local i=0
    while [ -n "$lpid" ] && kill -0 "$lpid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    if [ -n "$lpid" ] && kill -0 "$lpid" 2>/dev/null && ps -o args= -p "$lpid" 2>/dev/null | grep -q 'CliToolLauncher'; then
      stop_pid "$name.launcher" 10
    fi
    rm -f "$lf"
  fi
}

# Stop both at once.
elasticsearch_stop() {
  local a b
  es_stop_one legacy & a=$!
  es_stop_one new & b=$!
  wait "$a" || true
  wait "$b" || true
  es_private_cleanup
}

# A private checkout's server data lives outside it (see es_place): scratch, removed with the last server.
es_private_cleanup() {
  if es_private_checkout && ! is_running es-legacy && ! is_running es-new && ! is_running es9 && ! is_running opensearch && ! is_running opensearch2; then
    rm -rf "$(es_place)"
  fi
}

# ---- On demand only (scripts/stack up --with es9,opensearch): one server each, the same machinery.

es9_install() { es_user_ensure; es_unpack es9; es_root_endpoint es9; }
es9_start() { es_launch es9; es_adopt_pid es9; }
es9_wait() { es_wait_for es9; }
es9_stop() { es_stop_one es9; es_private_cleanup; }

opensearch_install() { es_user_ensure; es_unpack opensearch; }
opensearch_start() { es_launch opensearch; es_adopt_pid opensearch; }
opensearch_wait() { es_wait_for opensearch; }
opensearch_stop() { es_stop_one opensearch; es_private_cleanup; }

opensearch2_install() { es_user_ensure; es_unpack opensearch2; }
opensearch2_start() { es_launch opensearch2; es_adopt_pid opensearch2; }
opensearch2_wait() { es_wait_for opensearch2; }
opensearch2_stop() { es_stop_one opensearch2; es_private_cleanup; }
