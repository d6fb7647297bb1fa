#!/usr/bin/env bash
# Vendor the dashboard's chart library from the npm registry into api/static/vendor/.
#
# The dashboard never loads anything from a CDN: this script fetches the pinned uPlot
# release with `npm pack` (the ordinary npm client, registry only), checks the tarball against
# the pinned SHA-256 below, and copies the minified IIFE build, its CSS and its MIT licence
# next to this script. The copied files are committed, so installing Lingtan
# (pip install) ships them as package data; rerun this script only to change the version.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=1.6.32
SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$VERSION" >/dev/null)
echo "$SHA256  $work/uplot-$VERSION.tgz" | sha256sum --check --quiet
tar -xzf "$work/uplot-$VERSION.tgz" -C "$work"
mkdir -p uplot
cp "$work/package/dist/uPlot.iife.min.js" uplot/uPlot.iife.min.js
cp "$work/package/dist/uPlot.min.css" uplot/uPlot.min.css
cp "$work/package/LICENSE" uplot/LICENSE
printf 'uPlot %s from the npm registry (npm pack uplot@%s), MIT licence (LICENSE).\n' "$VERSION" "$VERSION" >uplot/VERSION
echo "vendored uPlot $VERSION into $(pwd)/uplot"
