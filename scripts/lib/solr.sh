# Solr legacy 8.x and new 9.x, each one SolrCloud node in the stack's ZooKeeper under its own chroot.
# Sourced by scripts/stack after common.sh. No Solr tarball is on Maven Central, so each node is
# Solr's own jars (scripts/solr/solr<major>/pom.xml) plus a small launcher (scripts/solr/launcher)
# that starts Solr's JettySolrRunner. Instances: legacy, new; pid/log names solr-legacy, solr-new.

SOLR_SCRIPTS="$STACK_REPO/scripts/solr"
SOLR_CONFIGSET=bluegreen
SOLR_CONFIGSET_DIR="$SOLR_SCRIPTS/configsets/$SOLR_CONFIGSET/conf"
SOLR_START_TIMEOUT="${BG_SOLR_START_TIMEOUT:-180}"

solr_url() { echo "http://$BG_HOST:$(solr_port "$1")/solr"; }
solr_chroot() { [ "$1" = legacy ] && echo "$BG_SOLR_LEGACY_CHROOT" || echo "$BG_SOLR_NEW_CHROOT"; }
solr_port() { [ "$1" = legacy ] && echo "$BG_SOLR_LEGACY_PORT" || echo "$BG_SOLR_NEW_PORT"; }
solr_release() { [ "$1" = legacy ] && echo "$SOLR_LEGACY_VERSION" || echo "$SOLR_NEW_VERSION"; }
solr_zkhost() { echo "$BG_HOST:$BG_ZK_PORT$(solr_chroot "$1")"; }
# Live-node name the instance registers in ZooKeeper (host:port_context).
solr_node_name() { echo "$BG_HOST:$(solr_port "$1")_solr"; }
solr_lib() { echo "$STACK_CACHE/solr-$(solr_release "$1")/lib"; }
# major.minor of the Lucene that INST's Solr ships (lucene-core-9.12.3.jar -> 9.12): the configset's
# luceneMatchVersion, so one configset fits both majors (Solr 9.x minors do not track Lucene's).
solr_lucene_match() {
  local jar; jar="$(cd "$(solr_lib "$1")" && ls lucene-core-*.jar)"
  echo "$jar" | sed -n 's/^lucene-core-\([0-9]*\.[0-9]*\)\..*\.jar$/\1/p'
}

# The pom listing the jars of INST's major (solr8: solr-core; solr9: solr-test-framework).
solr_pom_dir() {
  local v major; v="$(solr_release "$1")"; major="${v%%.*}"
  [ -f "$SOLR_SCRIPTS/solr$major/pom.xml" ] || die "Solr $v is not supported by the local stack (no scripts/solr/solr$major/pom.xml)"
  echo "$SOLR_SCRIPTS/solr$major"
}

# The compiled launcher, keyed by its source so an edit recompiles it.
solr_launcher_dir() {
  local sum; sum="$(sha256sum "$SOLR_SCRIPTS/launcher/SolrNode.java" | cut -c1-12)"
  echo "$STACK_CACHE/solr-launcher/$sum"
}

solr_install() {
  local inst
  for inst in legacy new; do
    maven_libs "$(solr_pom_dir "$inst")" "$(solr_lib "$inst")" -Dsolr.version="$(solr_release "$inst")"
  done
  local out; out="$(solr_launcher_dir)"
  [ -f "$out/SolrNode.class" ] && return 0
  [ -x "$JAVA_HOME/bin/javac" ] || die "no javac in JAVA_HOME=$JAVA_HOME (a JDK is needed to build the Solr launcher)"
  say "compiling the Solr launcher into $out"
  rm -rf "$STACK_CACHE/solr-launcher"; mkdir -p "$out"   # drop builds of older sources
  # Reflection only: compiles without Solr on the classpath, runs on 8.x and 9.x jars alike.
  "$JAVA_HOME/bin/javac" --release 11 -nowarn -d "$out" "$SOLR_SCRIPTS/launcher/SolrNode.java" \
    || { rm -rf "$out"; die "could not compile $SOLR_SCRIPTS/launcher/SolrNode.java"; }
}

solr_start() {
  local inst
  for inst in legacy new; do solr_start_one "$inst"; done
}

solr_start_one() {
  local inst="$1" name="solr-$1" port version home
  if is_running "$name"; then say "$name already running (pid $(cat "$(pidfile "$name")"))"; return 0; fi
  port="$(solr_port "$inst")"; version="$(solr_release "$inst")"
  port_free "$BG_ZK_PORT" && die "ZooKeeper does not answer on $BG_HOST:$BG_ZK_PORT; start it first (scripts/stack up zookeeper solr)"
  port_free "$port" || die "port $port (Solr $inst) is taken by another process; stop it or set BG_SOLR_$(echo "$inst" | tr a-z A-Z)_PORT to a free port"
  solr_install
  home="$STACK_DATA/$name"   # solr.xml here; cores (and their data) are created below it
  mkdir -p "$home"
  cp "$SOLR_SCRIPTS/solr.xml" "$home/solr.xml"
  say "starting $name: Solr $version on port $port, zkHost $(solr_zkhost "$inst")"
  # createZkChroot: Solr creates the chroot znode if it is missing (8.x and 9.x).
  # solr.default.confdir: the "_default" configset Solr bootstraps into an empty chroot = bluegreen.
  start_bg "$name" "$JAVA_HOME/bin/java" -Xms"$BG_SOLR_HEAP" -Xmx"$BG_SOLR_HEAP" -XX:+UseSerialGC \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Duser.timezone=UTC \
    -Dlog4j.configurationFile="$SOLR_SCRIPTS/log4j2.xml" -Dlog4j2.formatMsgNoLookups=true -Dsolr.log.dir="$STACK_LOGS" \
    -Dbluegreen.solr.requestLog="${BG_SOLR_REQUEST_LOG:-WARN}" \
    -Dsolr.solr.home="$home" -Djetty.port="$port" -DhostContext=/solr -Dhost="$BG_HOST" \
    -DzkHost="$(solr_zkhost "$inst")" -DcreateZkChroot=true \
    -Dsolr.default.confdir="$SOLR_CONFIGSET_DIR" \
    -Dbluegreen.luceneMatchVersion="$(solr_lucene_match "$inst")" \
    -cp "$(solr_launcher_dir):$(solr_lib "$inst")/*" SolrNode
}

# solr_live INST: the node answers and is registered as a live node of its cluster.
solr_live() {
  local url state; url="$(solr_url "$1")"
  http_ok "$url/admin/info/system?wt=json" || return 1
  state="$(curl -fsS -m 5 "$url/admin/collections?action=CLUSTERSTATUS&wt=json")" || return 1
  [[ "$state" == *"\"$(solr_node_name "$1")\""* ]]
}

solr_wait() {
  local inst
  for inst in legacy new; do wait_for "solr-$inst" "$SOLR_START_TIMEOUT" solr_live "$inst"; done
  for inst in legacy new; do solr_configset "$inst"; done
}

# solr_configset INST: make sure configset bluegreen in INST's cluster matches scripts/solr/configsets.
# Uploaded with the Configsets API (zip; same call on 8.11 and 9.x), re-uploaded (overwrite + cleanup)
# when the files changed since the last upload; a no-op otherwise.
solr_configset() {
  local inst="$1" url sum mark zip out listed
  url="$(solr_url "$inst")"
  mark="$STACK_DATA/solr-$inst/configset-$SOLR_CONFIGSET.sha256"
  sum="$(cd "$SOLR_CONFIGSET_DIR" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-64)"
  listed="$(curl -fsS -m 10 "$url/admin/configs?action=LIST&wt=json")" || die "solr-$inst does not answer the Configsets API"
  if [[ "$listed" == *"\"$SOLR_CONFIGSET\""* ]] && [ "$(cat "$mark" 2>/dev/null)" = "$sum" ]; then
    return 0
  fi
  say "uploading configset $SOLR_CONFIGSET to solr-$inst"
  zip="$STACK_RUN/configset-$SOLR_CONFIGSET.zip"
  rm -f "$zip"
  "$JAVA_HOME/bin/jar" --create --no-manifest --file "$zip" -C "$SOLR_CONFIGSET_DIR" . \
    || die "could not zip $SOLR_CONFIGSET_DIR"
  if ! out="$(curl -sS -m 60 -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$zip" \
      "$url/admin/configs?action=UPLOAD&name=$SOLR_CONFIGSET&overwrite=true&cleanup=true&wt=json" 2>&1)" \
      || [[ "$out" != *'"status":0'* ]]; then
    die "configset upload to solr-$inst failed: $out"
  fi
  echo "$sum" >"$mark"
}

solr_stop() {
  # Both at once: each may take a few seconds to close its cores and leave ZooKeeper.
  local a b
  stop_pid solr-new 30 & a=$!
  stop_pid solr-legacy 30 & b=$!
  wait "$a" "$b"
}

# solr_version INST: the running server's solr-spec-version (e.g. 8.11.4); nothing when it is down.
solr_version() {
  curl -fsS -m 5 "$(solr_url "$1")/admin/info/system?wt=json" 2>/dev/null \
    | grep -o '"solr-spec-version" *: *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' || true
}
