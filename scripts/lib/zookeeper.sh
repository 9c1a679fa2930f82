# ZooKeeper 3.9.x standalone (ZooKeeperServerMain) from Maven Central jars. Sourced by scripts/stack.

zookeeper_lib() { echo "$STACK_CACHE/zookeeper-$ZK_VERSION/lib"; }

zookeeper_install() {
  maven_libs "$STACK_REPO/scripts/zookeeper" "$(zookeeper_lib)" -Dzookeeper.version="$ZK_VERSION"
}

zookeeper_ruok() {
  # `srvr` is whitelisted by default in 3.9 (ruok is too, but srvr also proves the server is serving).
  exec 3<>"/dev/tcp/$BG_HOST/$BG_ZK_PORT" || return 1
  printf 'srvr' >&3
  grep -q '^Mode:' <&3
}

zookeeper_start() {
  if is_running zookeeper; then say "zookeeper already running"; return 0; fi
  port_free "$BG_ZK_PORT" || die "port $BG_ZK_PORT is taken by another process; set BG_ZK_PORT to a free port"
  zookeeper_install
  local dir="$STACK_DATA/zookeeper" conf="$STACK_RUN/zoo.cfg"
  mkdir -p "$dir"
  cat >"$conf" <<CFG
tickTime=1000
dataDir=$dir
clientPort=$BG_ZK_PORT
clientPortAddress=$BG_HOST
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,stat,mntr,cons
minSessionTimeout=2000
maxSessionTimeout=60000
maxClientCnxns=0
CFG
  start_bg zookeeper "$JAVA_HOME/bin/java" -Xms"$BG_ZK_HEAP" -Xmx"$BG_ZK_HEAP" -XX:+UseSerialGC \
    -Dzookeeper.jmx.log4j.disable=true -Dlogback.configurationFile="$STACK_REPO/scripts/zookeeper/logback.xml" -cp "$(zookeeper_lib)/*" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$conf"
}

zookeeper_wait() { wait_for zookeeper 60 zookeeper_ruok; }
zookeeper_stop() { stop_pid zookeeper 20; }
zookeeper_version() { (exec 3<>"/dev/tcp/$BG_HOST/$BG_ZK_PORT" && printf 'srvr' >&3 && head -n1 <&3) 2>/dev/null; }
zookeeper_url() { echo "$BG_HOST:$BG_ZK_PORT"; }
