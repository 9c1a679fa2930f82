# Shared by every scripts/lib/<server>.sh: where things live, ports, pid-file process control.
# Sourced, never run. Every server is started in the background with its pid in $STACK_RUN/<name>.pid
# and is stopped by that pid only (never by name).

STACK_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Git-ignored cache: downloaded artifacts survive `down`; data, logs and pids are per run.
STACK_DIR="${BLUEGREEN_STACK_DIR:-$STACK_REPO/.stack}"
STACK_CACHE="$STACK_DIR/cache"
STACK_RUN="$STACK_DIR/run"
STACK_LOGS="$STACK_DIR/logs"
STACK_DATA="$STACK_DIR/data"
mkdir -p "$STACK_CACHE" "$STACK_RUN" "$STACK_LOGS" "$STACK_DATA"

# Versions (the nearest that run here; see README "Local stack").
ZK_VERSION="${BG_ZK_VERSION:-3.9.4}"
SOLR_LEGACY_VERSION="${BG_SOLR_LEGACY_VERSION:-8.11.4}"
SOLR_NEW_VERSION="${BG_SOLR_NEW_VERSION:-9.10.1}"
ES_LEGACY_VERSION="${BG_ES_LEGACY_VERSION:-7.17.29}"
ES_NEW_VERSION="${BG_ES_NEW_VERSION:-8.19.4}"
# On demand only (scripts/stack up --with es9,opensearch).
ES9_VERSION="${BG_ES9_VERSION:-9.2.4}"
OPENSEARCH_VERSION="${BG_OPENSEARCH_VERSION:-3.6.0}"
OPENSEARCH2_VERSION="${BG_OPENSEARCH2_VERSION:-2.19.6}"

# Fixed loopback ports, each overridable.
BG_HOST="${BG_HOST:-127.0.0.1}"
BG_ZK_PORT="${BG_ZK_PORT:-2181}"
BG_SOLR_LEGACY_PORT="${BG_SOLR_LEGACY_PORT:-8983}"
BG_SOLR_NEW_PORT="${BG_SOLR_NEW_PORT:-8984}"
BG_ES_LEGACY_PORT="${BG_ES_LEGACY_PORT:-9200}"
BG_ES_NEW_PORT="${BG_ES_NEW_PORT:-9201}"
BG_ES_LEGACY_TRANSPORT_PORT="${BG_ES_LEGACY_TRANSPORT_PORT:-9300}"
BG_ES_NEW_TRANSPORT_PORT="${BG_ES_NEW_TRANSPORT_PORT:-9301}"
BG_ES9_PORT="${BG_ES9_PORT:-9202}"
BG_OPENSEARCH_PORT="${BG_OPENSEARCH_PORT:-9203}"
BG_ES9_TRANSPORT_PORT="${BG_ES9_TRANSPORT_PORT:-9302}"
BG_OPENSEARCH_TRANSPORT_PORT="${BG_OPENSEARCH_TRANSPORT_PORT:-9303}"
BG_OPENSEARCH2_PORT="${BG_OPENSEARCH2_PORT:-9204}"
BG_OPENSEARCH2_TRANSPORT_PORT="${BG_OPENSEARCH2_TRANSPORT_PORT:-9304}"
# On demand (solr-secure): the new Solr with BasicAuth + rule-based authorization (scripts/lib/solr.sh).
BG_SOLR_SECURE_PORT="${BG_SOLR_SECURE_PORT:-8985}"
# SolrCloud chroots inside the one ZooKeeper.
BG_SOLR_LEGACY_CHROOT="${BG_SOLR_LEGACY_CHROOT:-/solr-legacy}"
BG_SOLR_NEW_CHROOT="${BG_SOLR_NEW_CHROOT:-/solr-new}"
BG_SOLR_SECURE_CHROOT="${BG_SOLR_SECURE_CHROOT:-/solr-secure}"

# Heaps: the machine has 2 cores and 24 GiB; five JVMs must fit beside the tests.
BG_ZK_HEAP="${BG_ZK_HEAP:-256m}"
BG_SOLR_HEAP="${BG_SOLR_HEAP:-512m}"
BG_ES_HEAP="${BG_ES_HEAP:-512m}"

JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}"
export JAVA_HOME

say() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

pidfile() { echo "$STACK_RUN/$1.pid"; }

# is_running NAME: true when NAME's pid file names a live process.
is_running() {
  local f; f="$(pidfile "$1")"
  [ -f "$f" ] || return 1
  local pid; pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# start_bg NAME CMD...: run CMD detached (own session), log to $STACK_LOGS/NAME.log, pid to the pid file.
start_bg() {
  local name="$1"; shift
  local log="$STACK_LOGS/$name.log"
  : >"$log"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

# stop_pid NAME [GRACE_SECONDS]: TERM the pid in NAME's pid file, KILL after the grace period.
stop_pid() {
  local name="$1" grace="${2:-30}" f pid
  f="$(pidfile "$name")"
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt $((grace * 5)) ]; do sleep 0.2; i=$((i + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name did not stop in ${grace}s, killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

# wait_for NAME SECONDS CMD...: poll CMD until it succeeds; fail (with the log tail) if NAME dies or time runs out.
wait_for() {
  local name="$1" secs="$2"; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if ! is_running "$name"; then
      tail -n 40 "$STACK_LOGS/$name.log" >&2 2>/dev/null
      die "$name exited during start-up; full log: $STACK_LOGS/$name.log"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 40 "$STACK_LOGS/$name.log" >&2 2>/dev/null
      die "$name did not answer within ${secs}s; full log: $STACK_LOGS/$name.log"
    fi
    sleep 1
  done
}

http_ok() { curl -fsS -m 5 -o /dev/null "$1"; }

# port_free PORT: true when nothing listens on PORT at $BG_HOST.
port_free() { ! (exec 3<>"/dev/tcp/$BG_HOST/$1") 2>/dev/null; }

MVN_DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.6.1"

# maven_fetch GROUP:ARTIFACT:VERSION[:PACKAGING[:CLASSIFIER]] DEST_FILE: one artifact from Maven Central, cached.
maven_fetch() {
  local coords="$1" dest="$2" tmp
  [ -s "$dest" ] && return 0
  mkdir -p "$(dirname "$dest")"
  tmp="$(mktemp -d "$STACK_CACHE/.fetch.XXXXXX")"
  say "downloading $coords (cached in $STACK_CACHE)"
  if ! mvn -q -B "$MVN_DEP_PLUGIN:copy" -Dartifact="$coords" -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"
    die "could not fetch $coords from Maven Central (is the network to Maven Central up?)"
  fi
  mv "$tmp"/* "$dest" && rm -rf "$tmp" "$tmp.log"
}

# maven_libs POM_DIR LIB_DIR [MVN_ARGS...]: copy POM_DIR's runtime dependencies into LIB_DIR once (cached).
maven_libs() {
  local pom_dir="$1" lib="$2"; shift 2
  [ -f "$lib/.complete" ] && return 0
  rm -rf "$lib"; mkdir -p "$lib"
  say "resolving $(basename "$pom_dir") jars from Maven Central into $lib"
  if ! mvn -q -B -f "$pom_dir/pom.xml" "$MVN_DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
      -DoutputDirectory="$lib" "$@" >"$lib.log" 2>&1; then
    cat "$lib.log" >&2
    die "could not resolve the jars of $pom_dir from Maven Central"
  fi
  touch "$lib/.complete"
}
