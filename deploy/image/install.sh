#!/bin/sh
# Installs a packed das-exporter (the `npm pack` tarball users get from the
# registry) into DEST with its production dependencies, at the versions of
# the repository's lockfile. The Dockerfile runs this script, and so does
# test/deploy/image.test.ts on this machine, so the tested tree is the one
# the image holds.
#
#   install.sh [--omit-optional] TARBALL LOCKFILE DEST
#
# --omit-optional leaves out kinesalite (only `demo` needs it): the runtime
# image. No install scripts run (nothing in the tree needs one: leveldown,
# under kinesalite, ships prebuilt binaries).
set -eu
omit="--omit=dev"
if [ "${1:-}" = "--omit-optional" ]; then omit="--omit=dev --omit=optional"; shift; fi
if [ $# -ne 3 ]; then echo "usage: install.sh [--omit-optional] TARBALL LOCKFILE DEST" >&2; exit 2; fi
tarball=$1 lockfile=$2 dest=$3
mkdir -p "$dest"
tar -xzf "$tarball" -C "$dest" --strip-components=1 --no-same-owner
cp "$lockfile" "$dest/package-lock.json"
cd "$dest"
# shellcheck disable=SC2086
npm ci $omit --ignore-scripts --no-audit --no-fund --loglevel=error
rm -f package-lock.json
