#!/usr/bin/env bash
# Builds pgrelay's DEB and RPM from one staged tree, with Debian's own tools (dpkg-deb,
# dpkg-shlibdeps, rpmbuild):
#   packaging/build.sh stage   the installed file system, under packaging/build/stage
#   packaging/build.sh deb     packaging/build/pgrelay_VERSION_amd64.deb
#   packaging/build.sh rpm     packaging/build/pgrelay-VERSION.x86_64.rpm
# deb and rpm package the stage as it is (make deb / make rpm stage first).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PACKAGING=$ROOT/packaging
BUILD=$PACKAGING/build
STAGE=$BUILD/stage
APP=/usr/lib/pgrelay
# Compression, measured on the 115 MB tree (two cores): gzip -6 takes 4.5 s for 41 MB, xz -1 8 s
# for 33 MB, xz -6 (dpkg's default) 64 s for 28 MB; lintian rejects zstd in a .deb. rpm takes
# zstd -9: 3.5 s for 35 MB.
DEB_COMPRESSION=(-Zgzip -z6)
RPM_PAYLOAD=w9.zstdio

log() { printf 'packaging: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

[[ $(dpkg --print-architecture) == amd64 ]] || die "the bundled runtime is Node for linux-x64: build on amd64"
NODE_DIST=$("$ROOT/scripts/toolchain.sh" node-dist)
NODE=$NODE_DIST/bin/node
VERSION=$("$NODE" -p "require('$ROOT/package.json').version")
# dpkg and rpm sort a semver pre-release (1.0.0-rc.1) before its release only when written with "~".
PKG_VERSION=${VERSION//-/\~}
# Packaged files and changelogs carry the commit's time, so a rebuild of a commit is identical.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
# Who built the packages, as dch would name them: $PGRELAY_MAINTAINER, $DEBFULLNAME <$DEBEMAIL>, or
# the checkout's git identity.
if [[ -n ${PGRELAY_MAINTAINER:-} ]]; then
  MAINTAINER=$PGRELAY_MAINTAINER
elif [[ -n ${DEBFULLNAME:-} && -n ${DEBEMAIL:-} ]]; then
  MAINTAINER="$DEBFULLNAME <$DEBEMAIL>"
elif name=$(git -C "$ROOT" config user.name) && email=$(git -C "$ROOT" config user.email); then
  MAINTAINER="$name <$email>"
else
  die "name the packages' maintainer: PGRELAY_MAINTAINER='Name <address>'"
fi

build_stage() {
  local tmp=$STAGE.partial
  local app=$tmp$APP
  [[ -f $ROOT/node_modules/typescript/bin/tsc ]] || die "no node_modules: run make deps (make deb does)"
  rm -rf "$tmp"
  mkdir -p "$app"

  # tsc's output goes to a scratch directory: the package runs the bundle of it (made below, once
  # node_modules is in place) and ships the example plugin.
  local compiled=$tmp.compiled
  rm -rf "$compiled"
  log "compiling src/ and plugins/"
  "$NODE" "$ROOT/node_modules/typescript/bin/tsc" -p "$PACKAGING/tsconfig.json" --outDir "$compiled"
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$app/"

  # No install scripts: the one addon (better-sqlite3) ships Node-API prebuilds, checked below
  # with the bundled Node, and a package build runs no code from the registry.
  log "installing production node_modules for Node $("$NODE" -p process.versions.node)"
  (cd "$app" && PATH="$NODE_DIST/bin:$PATH" npm_config_nodedir="$NODE_DIST" \
    npm ci --omit=dev --ignore-scripts --no-bin-links --no-audit --no-fund --loglevel=error >/dev/null)
  rm "$app/package-lock.json" # node_modules/.package-lock.json records the same versions
  local licenses license
  licenses=$(npm_licenses "$tmp")
  for license in $licenses; do
    grep -qx "License: $license" "$PACKAGING/copyright" ||
      die "a bundled npm package is under $license: add it to packaging/copyright"
  done
  prune_foreign_addons "$app/node_modules"
  prune_npm_extras "$app/node_modules"
  # The bundle holds pgrelay and its pure-JavaScript dependencies; node_modules serves the addons it
  # leaves out (scripts/bundle.mjs) and carries every bundled package's license.
  log "bundling $APP/dist/pgrelay.js"
  mkdir -p "$app/dist"
  "$NODE" "$ROOT/scripts/bundle.mjs" "$compiled/src/cli/main.js" "$app/dist/pgrelay.js"

  # npm keeps whatever modes the tarballs had; nothing under the app is executed directly.
  find "$app" -type d -exec chmod 0755 {} +
  find "$app" -type f -exec chmod 0644 {} +
  install -D -m 0755 "$NODE" "$app/node/bin/node"
  install -m 0644 "$NODE_DIST/LICENSE" "$app/node/LICENSE"
  # Symbol tables and debug info are a sixth of Node's size and serve only debuggers (Debian
  # policy strips them too); the dynamic symbols addons link against stay.
  find "$app" -type f \( -name '*.node' -o -path "$app/node/bin/node" \) -exec strip --strip-unneeded {} +
  "$app/node/bin/node" -e "require('$app/node_modules/better-sqlite3')(':memory:').close()" ||
    die "better-sqlite3 does not load in the bundled Node $("$NODE" -p process.versions.node)"

  install -D -m 0755 "$PACKAGING/pgrelay.sh" "$tmp/usr/bin/pgrelay"
  install -D -m 0640 "$ROOT/conf/pgrelay.toml" "$tmp/etc/pgrelay/pgrelay.toml"
  install -d -m 0750 "$tmp/var/lib/pgrelay"
  mkdir -p "$tmp/usr/lib/systemd/system"
  render_unit pgrelay 'pgrelay change relay' >"$tmp/usr/lib/systemd/system/pgrelay.service"
  render_unit '%i' 'pgrelay change relay, instance %i' >"$tmp/usr/lib/systemd/system/pgrelay@.service"
  chmod 0644 "$tmp"/usr/lib/systemd/system/*
  local doc=$tmp/usr/share/doc/pgrelay
  install -D -m 0644 "$PACKAGING/copyright" "$doc/copyright"
  install -m 0644 "$ROOT/README.md" "$doc/README.md"
  # README links to it by this relative path.
  install -D -m 0644 "$ROOT/docs/performance.md" "$doc/docs/performance.md"
  # Starting points the README points operators to: a Kafka-to-Kafka relay config (an instance's
  # /etc/pgrelay/NAME.toml) and a handler plugin to copy to /etc/pgrelay/plugins/.
  install -D -m 0644 "$ROOT/conf/kafka-relay.toml" "$doc/examples/kafka-relay.toml"
  install -m 0644 "$compiled/plugins/examples/tenant-topics.js" "$doc/examples/"
  rm -rf "$compiled"
  # A Grafana dashboard and Prometheus alert rules (with their promtool unit tests) to import.
  install -D -m 0644 -t "$doc/contrib" "$PACKAGING/contrib/grafana/pgrelay-dashboard.json" \
    "$PACKAGING/contrib/prometheus/pgrelay-alerts.yml" "$PACKAGING/contrib/prometheus/pgrelay-alerts.test.yml"
  mkdir -p "$tmp/usr/share/man/man1"
  man_page "$tmp" | gzip -9n >"$tmp/usr/share/man/man1/pgrelay.1.gz"
  chmod 0644 "$tmp/usr/share/man/man1/pgrelay.1.gz"

  find "$tmp" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
  rm -rf "$STAGE"
  mv "$tmp" "$STAGE"
  log "staged $(du -sh "$STAGE" | cut -f1) in $STAGE"
}

# Prebuilt addons for other systems (macOS, Windows, musl, arm64) never load here, and would make
# dpkg-shlibdeps and rpm derive dependencies from binaries that are not ours to run.
prune_foreign_addons() {
  local addon
  while IFS= read -r -d '' addon; do
    if ! readelf -h "$addon" 2>/dev/null | grep -q 'Machine:.*X86-64' ||
      ! readelf -d "$addon" | grep -q 'NEEDED.*\[libc\.so\.6\]'; then
      rm "$addon"
    fi
  done < <(find "$1" -name '*.node' -type f -print0)
}

# What npm packages carry for their own development (tests, benchmarks, docs, examples, TypeScript
# sources and declarations, source maps, native sources of addons that ship prebuilt, maintenance
# scripts, dotfiles) is never loaded at run time: a third of the bytes and two thirds of the
# files. License files stay, whatever their extension.
prune_npm_extras() {
  find "$1" -mindepth 1 -type d \( -name test -o -name tests -o -name __tests__ -o -name spec \
    -o -name bench -o -name benchmark -o -name benchmarks -o -name example -o -name examples \
    -o -name docs -o -name coverage -o -name '.*' \) -prune -exec rm -rf {} + -o \
    -type f \( -name '*.md' -o -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' \
    -o -name '*.html' -o -name '*.sh' -o -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' \
    -o -name '*.hpp' -o -name '*.gyp' -o -name '*.gypi' -o -name 'tsconfig*.json' \
    -o \( -name '.*' ! -name .package-lock.json \) \) \
    ! -iname 'license*' ! -iname 'licence*' ! -iname 'copying*' ! -iname 'notice*' -exec rm -f {} +
}

sed_escape() { sed -e 's/[|&\\]/\\&/g' <<<"$1"; }

render_unit() {
  sed -e "s/@NAME@/$1/g" -e "s/@DESCRIPTION@/$2/g" "$PACKAGING/systemd/pgrelay.service.in"
}

# The man page is the CLI's own --help text, so it cannot disagree with it.
man_page() {
  local pgrelay=("$1$APP/node/bin/node" "$1$APP/dist/pgrelay.js") command
  printf '.TH PGRELAY 1 "%s" "pgrelay %s" "User Commands"\n' \
    "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" "$VERSION"
  printf '.SH NAME\npgrelay \\- streams PostgreSQL and Kafka changes into Kafka\n'
  printf '.SH DESCRIPTION\n'
  roff_text "$("${pgrelay[@]}" --help)"
  for command in $("${pgrelay[@]}" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\).*/\1/p'); do
    printf '.SS %s\n' "$command"
    roff_text "$("${pgrelay[@]}" "$command" --help)"
  done
  cat <<'EOF'
.SH FILES
.TP
.I /etc/pgrelay/pgrelay.toml
the configuration of pgrelay.service (every key, commented)
.TP
.I /etc/pgrelay/NAME.toml
the configuration of pgrelay@NAME.service
.TP
.I /etc/pgrelay/pgrelay.env, /etc/pgrelay/NAME.env
optional environment (secrets for ${VAR} references) for the services
.TP
.I /var/lib/pgrelay
source positions (SQLite)
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1),
/usr/share/doc/pgrelay/README.md
EOF
}

roff_text() {
  printf '.nf\n'
  sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/" <<<"$1"
  printf '.fi\n'
}

# The library dependencies of every ELF file in the package tree debian/pgrelay under $1, as
# dpkg-shlibdeps reads them from the symbols the files use (the addon's GLIBC_2.34 symbols make
# libc6 (>= 2.34)).
shlibs_depends() (
  printf 'Source: pgrelay\n\nPackage: pgrelay\nArchitecture: amd64\n' >"$1/debian/control"
  cd "$1"
  mapfile -t elfs < <(find debian/pgrelay -type f -exec file -N --mime-type -F $'\t' {} + |
    awk -F '\t' '$2 ~ /application\/x-(sharedlib|executable|pie-executable)/ {print $1}')
  # --warnings=0: the addon's napi_* symbols come from the node executable, not from a library,
  # which dpkg-shlibdeps would report once per symbol.
  dpkg-shlibdeps -O --warnings=0 "${elfs[@]}" | sed -n 's/^shlibs:Depends=//p'
)

build_deb() {
  [[ -d $STAGE ]] || die "nothing staged: run packaging/build.sh stage (make deb does)"
  # dpkg-shlibdeps wants a source tree's layout: the package's files under debian/pgrelay.
  local tree=$BUILD/deb out=$BUILD/pgrelay_${PKG_VERSION}_amd64.deb depends
  local root=$tree/debian/pgrelay
  rm -rf "$tree"
  mkdir -p "$tree/debian"
  # Hard links: the DEB-only files below are added beside the stage, nothing in it is changed.
  cp -al "$STAGE" "$root"
  debian_changelog | gzip -9n >"$root/usr/share/doc/pgrelay/changelog.gz"
  install -D -m 0644 "$PACKAGING/debian/lintian-overrides" "$root/usr/share/lintian/overrides/pgrelay"
  find "$root/usr/share/doc/pgrelay/changelog.gz" "$root/usr/share/lintian" \
    -exec touch --date="@$SOURCE_DATE_EPOCH" {} +

  install -d -m 0755 "$root/DEBIAN"
  depends=$(shlibs_depends "$tree")
  sed -e "s|@VERSION@|$PKG_VERSION|" -e "s|@MAINTAINER@|$(sed_escape "$MAINTAINER")|" \
    -e "s|@DEPENDS@|$depends|" -e "s|@INSTALLED_SIZE@|$(du -sk --apparent-size "$root" | cut -f1)|" \
    "$PACKAGING/debian/control.in" >"$root/DEBIAN/control"
  install -m 0644 "$PACKAGING/debian/conffiles" "$root/DEBIAN/"
  install -m 0755 "$PACKAGING/debian/postinst" "$PACKAGING/debian/prerm" "$PACKAGING/debian/postrm" "$root/DEBIAN/"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"

  rm -f "$BUILD"/pgrelay_*.deb
  dpkg-deb --root-owner-group "${DEB_COMPRESSION[@]}" --build "$root" "$out" >/dev/null
  rm -rf "$tree"
  log "built $out ($(du -h "$out" | cut -f1)), Depends: $(dpkg-deb -f "$out" Depends)"
}

# A native package's changelog: this version, pointing at the project's history.
debian_changelog() {
  printf 'pgrelay (%s) stable; urgency=medium\n\n  * pgrelay %s; changes are in the project history.\n\n -- %s  %s\n' \
    "$PKG_VERSION" "$VERSION" "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
}

build_rpm() {
  [[ -d $STAGE ]] || die "nothing staged: run packaging/build.sh stage (make rpm does)"
  local out=$BUILD/pgrelay-$PKG_VERSION.x86_64.rpm
  rm -f "$BUILD"/pgrelay-*.rpm
  rpmbuild -bb --quiet "$PACKAGING/rpm/pgrelay.spec" \
    --define "_topdir $BUILD/rpmbuild" \
    --define "_rpmdir $BUILD" \
    --define "pgrelay_version $PKG_VERSION" \
    --define "pgrelay_stage $STAGE" \
    --define "pgrelay_license $(rpm_license)" \
    --define "pgrelay_packager $MAINTAINER" \
    --define "pgrelay_changelog_date $(date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y')" \
    --define "_binary_payload $RPM_PAYLOAD"
  rm -rf "$BUILD/rpmbuild"
  [[ -f $out ]] || die "rpmbuild did not write $out"
  log "built $out ($(du -h "$out" | cut -f1))"
}

# The licenses of the npm packages staged under $1$APP, from the lock file npm ci wrote.
npm_licenses() {
  "$NODE" -e '
    const lock = require(process.argv[1]);
    const licenses = new Set(Object.values(lock.packages).map((p) => p.license));
    if (licenses.has(undefined)) throw new Error("a bundled npm package declares no license");
    console.log([...licenses].sort().join("\n"));
  ' "$1$APP/node_modules/.package-lock.json"
}

# SPDX expression: pgrelay and Node.js (MIT) and every bundled npm package.
rpm_license() {
  { echo MIT; npm_licenses "$STAGE"; } | sort -u | paste -sd ' ' | sed 's/ / AND /g'
}

case ${1:-} in
  stage | deb | rpm) "build_$1" ;;
  *)
    echo "usage: $0 stage | deb | rpm" >&2
    exit 2
    ;;
esac
