#!/bin/sh
# /usr/bin/pgrelay from the DEB and RPM packages: runs pgrelay on the Node.js runtime the package
# bundles, never on the system's node. PGRELAY_NODE_FLAGS: extra node options (word-split), as for
# bin/pgrelay; for the service, `systemctl edit pgrelay` and Environment=PGRELAY_NODE_FLAGS=...
# The heap flag and MALLOC_ARENA_MAX are bin/pgrelay's, and why is said there; the systemd unit
# sets NODE_COMPILE_CACHE to its cache directory.
: "${MALLOC_ARENA_MAX:=2}"
export MALLOC_ARENA_MAX
# shellcheck disable=SC2086
exec /usr/lib/pgrelay/node/bin/node --max-semi-space-size=16 $PGRELAY_NODE_FLAGS /usr/lib/pgrelay/dist/pgrelay.js "$@"
