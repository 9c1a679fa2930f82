# Solr legacy 8.x and new 9.x, each one SolrCloud node in the stack's ZooKeeper under its own chroot.
# Sourced by scripts/stack after common.sh. No Solr tarball is on Maven Central, so each node is
# Solr's own jars (scripts/solr/solr<major>/pom.xml) plus a small launcher (scripts/solr/launcher)
# that starts Solr's JettySolrRunner. Instances: legacy, new; pid/log names solr-legacy, solr-new.
# On demand (scripts/stack up solr-secure): instance "secure", the new Solr's version on its own port
# and chroot, with security.json (BasicAuthPlugin, blockUnknown, RuleBasedAuthorizationPlugin) put
# into its chroot before it starts. Its users (local stack only, fixed passwords, overridable):
#   BG_SOLR_SECURE_USER / BG_SOLR_SECURE_PASSWORD   role admin: everything
#   BG_SOLR_SECURE_READER / BG_SOLR_SECURE_READER_PASSWORD   role reader: what a source needs, no writes
#   BG_SOLR_SECURE_GUEST / BG_SOLR_SECURE_GUEST_PASSWORD     role guest: the node's version only (a wrong role)
# TLS: the secured instance serves https only, with a self-signed certificate made at its first start
# (keytool, into $STACK_DATA/solr-secure-tls: keystore.p12 and the certificate as ca.pem, the file a
# spec's tls.caFile names); cluster property urlScheme=https in its own chroot.

SOLR_SCRIPTS="$STACK_REPO/scripts/solr"
SOLR_CONFIGSET=bluegreen
SOLR_CONFIGSET_DIR="$SOLR_SCRIPTS/configsets/$SOLR_CONFIGSET/conf"
SOLR_START_TIMEOUT="${BG_SOLR_START_TIMEOUT:-180}"

BG_SOLR_SECURE_USER="${BG_SOLR_SECURE_USER:-bluegreen}"
BG_SOLR_SECURE_PASSWORD="${BG_SOLR_SECURE_PASSWORD:-bg-Secure-Pa55word}"
BG_SOLR_SECURE_READER="${BG_SOLR_SECURE_READER:-reader}"
BG_SOLR_SECURE_READER_PASSWORD="${BG_SOLR_SECURE_READER_PASSWORD:-bg-Reader-Pa55word}"
BG_SOLR_SECURE_GUEST="${BG_SOLR_SECURE_GUEST:-guest}"
BG_SOLR_SECURE_GUEST_PASSWORD="${BG_SOLR_SECURE_GUEST_PASSWORD:-bg-Guest-Pa55word}"

solr_url() { echo "$([ "$1" = secure ] && echo https || echo http)://$BG_HOST:$(solr_port "$1")/solr"; }
SOLR_SECURE_TLS_DIR="$STACK_DATA/solr-secure-tls"
solr_chroot() { case "$1" in legacy) echo "$BG_SOLR_LEGACY_CHROOT";; secure) echo "$BG_SOLR_SECURE_CHROOT";; *) echo "$BG_SOLR_NEW_CHROOT";; esac; }
solr_port() { case "$1" in legacy) echo "$BG_SOLR_LEGACY_PORT";; secure) echo "$BG_SOLR_SECURE_PORT";; *) echo "$BG_SOLR_NEW_PORT";; esac; }
solr_release() { [ "$1" = legacy ] && echo "$SOLR_LEGACY_VERSION" || echo "$SOLR_NEW_VERSION"; }
# curl's credentials for INST (the admin user of the secured instance and its CA; none for the others).
solr_curl_auth() { [ "$1" = secure ] && echo "--cacert" "$SOLR_SECURE_TLS_DIR/ca.pem" "-u" "$BG_SOLR_SECURE_USER:$BG_SOLR_SECURE_PASSWORD" || true; }

# solr_tls_props INST: the JVM flags that make INST serve https (the secured instance only).
solr_tls_props() {
  [ "$1" = secure ] || return 0
  local pw; pw="$(cat "$SOLR_SECURE_TLS_DIR/keystore.password")"
  echo "-Dbluegreen.ssl.keyStore=$SOLR_SECURE_TLS_DIR/keystore.p12" "-Dbluegreen.ssl.keyStorePassword=$pw" \
    "-Djavax.net.ssl.keyStore=$SOLR_SECURE_TLS_DIR/keystore.p12" "-Djavax.net.ssl.keyStorePassword=$pw" "-Djavax.net.ssl.keyStoreType=PKCS12" \
    "-Djavax.net.ssl.trustStore=$SOLR_SECURE_TLS_DIR/keystore.p12" "-Djavax.net.ssl.trustStorePassword=$pw" "-Djavax.net.ssl.trustStoreType=PKCS12"
}

# solr_secure_cert: the secured instance's self-signed certificate (PKCS12 key store + ca.pem), made
# once per stack dir with the JDK's keytool (never committed: the stack dir is not in the repository).
solr_secure_cert() {
  local dir="$SOLR_SECURE_TLS_DIR" pw out
  [ -s "$dir/keystore.p12" ] && [ -s "$dir/ca.pem" ] && [ -s "$dir/keystore.password" ] && return 0
  [ -x "$JAVA_HOME/bin/keytool" ] || die "no keytool in JAVA_HOME=$JAVA_HOME (a JDK is needed for the secured Solr's certificate)"
  rm -rf "$dir"; mkdir -p "$dir"; chmod 700 "$dir"
  pw="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  (umask 077; echo "$pw" >"$dir/keystore.password")
  say "making a self-signed certificate for solr-secure in $dir"
  out="$("$JAVA_HOME/bin/keytool" -genkeypair -alias solr-secure -keyalg RSA -keysize 2048 -validity 3650 \
      -storetype PKCS12 -keystore "$dir/keystore.p12" -storepass "$pw" -keypass "$pw" \
      -dname "CN=bluegreen solr-secure" -ext "SAN=ip:$BG_HOST,ip:127.0.0.1,dns:localhost" -ext bc:c 2>&1)" \
    || { rm -rf "$dir"; die "keytool could not make the secured Solr's certificate: $out"; }
  out="$("$JAVA_HOME/bin/keytool" -exportcert -rfc -alias solr-secure -keystore "$dir/keystore.p12" -storepass "$pw" -file "$dir/ca.pem" 2>&1)" \
    || { rm -rf "$dir"; die "keytool could not export the secured Solr's certificate: $out"; }
}
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
    $(solr_tls_props "$inst") \
    -cp "$(solr_launcher_dir):$(solr_lib "$inst")/*" SolrNode
}

# solr_live INST: the node answers and is registered as a live node of its cluster.
solr_live() {
  local url state; url="$(solr_url "$1")"
  # shellcheck disable=SC2046
  curl -fsS -m 5 -o /dev/null $(solr_curl_auth "$1") "$url/admin/info/system?wt=json" || return 1
  # shellcheck disable=SC2046
  state="$(curl -fsS -m 5 $(solr_curl_auth "$1") "$url/admin/collections?action=CLUSTERSTATUS&wt=json")" || return 1
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
  # shellcheck disable=SC2046
  listed="$(curl -fsS -m 10 $(solr_curl_auth "$inst") "$url/admin/configs?action=LIST&wt=json")" || die "solr-$inst does not answer the Configsets API"
  if [[ "$listed" == *"\"$SOLR_CONFIGSET\""* ]] && [ "$(cat "$mark" 2>/dev/null)" = "$sum" ]; then
    return 0
  fi
  say "uploading configset $SOLR_CONFIGSET to solr-$inst"
  zip="$STACK_RUN/configset-$SOLR_CONFIGSET.zip"
  rm -f "$zip"
  "$JAVA_HOME/bin/jar" --create --no-manifest --file "$zip" -C "$SOLR_CONFIGSET_DIR" . \
    || die "could not zip $SOLR_CONFIGSET_DIR"
  # shellcheck disable=SC2046
  if ! out="$(curl -sS -m 60 $(solr_curl_auth "$inst") -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$zip" \
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
  # shellcheck disable=SC2046
  curl -fsS -m 5 $(solr_curl_auth "$1") "$(solr_url "$1")/admin/info/system?wt=json" 2>/dev/null \
    | grep -o '"solr-spec-version" *: *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' || true
}

# ---- solr-secure: on demand (scripts/stack up solr-secure), never part of the default stack.

# solr_password_hash PASSWORD SALT: Solr's Sha256AuthenticationProvider form, "base64(sha256(sha256(salt+password))) base64(salt)".
solr_password_hash() {
  local hash salt
  hash="$(printf '%s%s' "$2" "$1" | openssl dgst -sha256 -binary | openssl dgst -sha256 -binary | base64 -w0)"
  salt="$(printf '%s' "$2" | base64 -w0)"
  echo "$hash $salt"
}

# The security.json of the secured instance: every request authenticated (blockUnknown), the admin
# user may do everything, the reader what a migration source needs and nothing more: read (search,
# real-time get), schema-read, collection-admin-read (list collections and aliases) and the node's
# /admin/info/system (its version); it cannot write. The guest may read the node's version and nothing
# else: a user with the wrong role for a migration.
solr_security_json() {
  local salt; salt="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  cat <<JSON
{
  "authentication": {
    "class": "solr.BasicAuthPlugin",
    "blockUnknown": true,
    "credentials": {
      "$BG_SOLR_SECURE_USER": "$(solr_password_hash "$BG_SOLR_SECURE_PASSWORD" "$salt")",
      "$BG_SOLR_SECURE_READER": "$(solr_password_hash "$BG_SOLR_SECURE_READER_PASSWORD" "$salt")",
      "$BG_SOLR_SECURE_GUEST": "$(solr_password_hash "$BG_SOLR_SECURE_GUEST_PASSWORD" "$salt")"
    }
  },
  "authorization": {
    "class": "solr.RuleBasedAuthorizationPlugin",
    "permissions": [
      { "name": "read", "role": ["admin", "reader"] },
      { "name": "schema-read", "role": ["admin", "reader"] },
      { "name": "collection-admin-read", "role": ["admin", "reader"] },
      { "name": "system-info", "collection": null, "path": "/admin/info/system", "role": ["admin", "reader", "guest"] },
      { "name": "all", "role": "admin" }
    ],
    "user-role": { "$BG_SOLR_SECURE_USER": ["admin"], "$BG_SOLR_SECURE_READER": ["reader"], "$BG_SOLR_SECURE_GUEST": ["guest"] }
  }
}
JSON
}

solr-secure_install() {
  command -v openssl >/dev/null || die "openssl is needed to hash the secured Solr's passwords (apt-get install openssl)"
  solr_install
}

solr-secure_start() {
  local zk="$BG_HOST:$BG_ZK_PORT" file="$STACK_DATA/solr-secure-security.json" out
  is_running solr-secure && { say "solr-secure already running (pid $(cat "$(pidfile solr-secure)"))"; return 0; }
  port_free "$BG_ZK_PORT" && die "ZooKeeper does not answer on $zk; start it first (scripts/stack up zookeeper solr-secure)"
  solr_security_json >"$file"
  # Solr reads security.json from its chroot when it starts: put it there first (Solr's own ZkCLI).
  say "putting security.json (BasicAuth, rule-based authorization) into $zk$BG_SOLR_SECURE_CHROOT"
  local cli=("$JAVA_HOME/bin/java" -Dlog4j.configurationFile="$SOLR_SCRIPTS/log4j2.xml" -cp "$(solr_lib secure)/*" org.apache.solr.cloud.ZkCLI -zkhost "$zk")
  "${cli[@]}" -cmd makepath "$BG_SOLR_SECURE_CHROOT" >/dev/null 2>&1 || true   # exists already: fine
  "${cli[@]}" -cmd clear "$BG_SOLR_SECURE_CHROOT/security.json" >/dev/null 2>&1 || true
  out="$("${cli[@]}" -cmd putfile "$BG_SOLR_SECURE_CHROOT/security.json" "$file" 2>&1)" || die "could not put security.json into ZooKeeper: $out"
  rm -f "$file"
  # https: the node registers https URLs (live nodes, replicas' base_url) and Solr calls itself over https.
  solr_secure_cert
  out="$("${cli[@]:0:${#cli[@]}-1}" "$zk$BG_SOLR_SECURE_CHROOT" -cmd clusterprop -name urlScheme -val https 2>&1)" || die "could not set urlScheme=https in ZooKeeper: $out"
  solr_start_one secure
}

solr-secure_wait() {
  wait_for solr-secure "$SOLR_START_TIMEOUT" solr_live secure
  solr_configset secure
  # The premise of every secured test: a request without credentials is refused.
  local code; code="$(curl -s -m 5 --cacert "$SOLR_SECURE_TLS_DIR/ca.pem" -o /dev/null -w '%{http_code}' "$(solr_url secure)/admin/collections?action=LIST&wt=json")"
  [ "$code" = 401 ] || die "solr-secure answered HTTP $code without credentials (expected 401): security.json is not in force"
}

solr-secure_stop() { stop_pid solr-secure 30; }
