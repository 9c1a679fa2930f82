# The Node the project runs on (package.json "engines"), brought by the project itself: the registry's
# `node` package is pinned in devDependencies, so `npm ci` installs that Node into node_modules/.bin
# whatever Node started npm. Sourced by scripts/test and scripts/demo, never run.
#
#   use_project_node [--install]   npm ci when node_modules is missing (or with --install, always),
#                                  then put node_modules/.bin first on PATH and check the version.

BG_NODE_MAJOR=24

use_project_node() {
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if [ "${1:-}" = --install ] || [ ! -x "$repo/node_modules/.bin/node" ] || [ ! -f "$repo/node_modules/.package-lock.json" ]; then
    echo "== install (npm ci: packages and Node $BG_NODE_MAJOR)"
    (cd "$repo" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  export PATH="$repo/node_modules/.bin:$PATH"
  local v
  v="$(node -p 'process.versions.node' 2>/dev/null || true)"
  if [ "${v%%.*}" != "$BG_NODE_MAJOR" ]; then
    echo "error: expected Node $BG_NODE_MAJOR from node_modules/.bin, found '${v:-none}'." >&2
    echo "  what to do: run \`npm ci\` in $repo (it installs the pinned \`node\` package), then try again." >&2
    exit 1
  fi
  echo "== node $v ($(command -v node))"
}
