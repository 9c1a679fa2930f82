#!/usr/bin/env bash
# Solr set-up for docker-compose.yml, run by two one-off services from the Solr 9 image:
#   solr-init.sh zk            ZooKeeper chroots of both clusters + the project's configset in each
#                              (scripts/solr/configsets/bluegreen, mounted at /configsets/bluegreen)
#   solr-init.sh collections   the `events` collection on both clusters (once they answer)
# Idempotent: a second `docker compose up` changes nothing.
set -euo pipefail
ZK="${ZK:-zookeeper:2181}"
CONFIGSET="${CONFIGSET:-/configsets/bluegreen}"
COLLECTION="${COLLECTION:-events}"
SOLR_LEGACY_URL="${SOLR_LEGACY_URL:-http://solr-legacy:8983/solr}"
SOLR_NEW_URL="${SOLR_NEW_URL:-http://solr-new:8983/solr}"

http_get() {
  if command -v curl >/dev/null; then curl -fsS "$1"; else wget -qO- "$1"; fi
}

case "${1:-}" in
  zk)
    for root in /solr-legacy /solr-new; do
      # mkroot fails when the chroot exists (a second `up`); upconfig below fails loudly if ZooKeeper is down.
      solr zk mkroot "$root" -z "$ZK" || true
      solr zk upconfig -n bluegreen -d "$CONFIGSET" -z "$ZK$root"
      echo "configset bluegreen uploaded to $ZK$root"
    done
    ;;
  collections)
    for base in "$SOLR_LEGACY_URL" "$SOLR_NEW_URL"; do
      if http_get "$base/admin/collections?action=LIST&wt=json" | grep -q "\"$COLLECTION\""; then
        echo "$base: collection $COLLECTION exists"
        continue
      fi
      # maxShardsPerNode=-1: Solr 8 limits replicas per node otherwise; Solr 9 ignores it.
      http_get "$base/admin/collections?action=CREATE&name=$COLLECTION&numShards=1&replicationFactor=1&maxShardsPerNode=-1&collection.configName=bluegreen&wt=json" >/dev/null
      echo "$base: collection $COLLECTION created"
    done
    ;;
  *)
    echo "usage: solr-init.sh zk|collections" >&2
    exit 2
    ;;
esac
