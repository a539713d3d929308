#!/bin/sh
# /usr/bin/pgrelay from the DEB and RPM packages: runs pgrelay on the Node.js runtime the package
# bundles, never on the system's node.
exec /usr/lib/pgrelay/node/bin/node /usr/lib/pgrelay/dist/src/cli/main.js "$@"
