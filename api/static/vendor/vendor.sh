#!/usr/bin/env bash
# Vendor the dashboard's chart library from the npm registry into api/static/vendor/.
#
# The dashboard never loads anything from a CDN: this script fetches the pinned Apache ECharts
# release with `npm pack` (the ordinary npm client, registry only), checks the tarball against
# the pinned SHA-256 below, and copies the minified build (it carries ECharts' own ZH and EN
# locales), its Apache-2.0 LICENSE and NOTICE next to this script. The copied files are
# committed, so installing Lingtan (pip install) ships them as package data; rerun this script
# only to change the version.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=5.6.0
SHA256=e1b82487dd7f8d9f0438eec1f1433051148e0095ac7a15d4db890afda45cf610
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "echarts@$VERSION" >/dev/null)
echo "$SHA256  $work/echarts-$VERSION.tgz" | sha256sum --check --quiet
tar -xzf "$work/echarts-$VERSION.tgz" -C "$work"
mkdir -p echarts
cp "$work/package/dist/echarts.min.js" echarts/echarts.min.js
cp "$work/package/LICENSE" echarts/LICENSE
cp "$work/package/NOTICE" echarts/NOTICE
printf 'Apache ECharts %s from the npm registry (npm pack echarts@%s), Apache License 2.0 (LICENSE, NOTICE).\n' \
  "$VERSION" "$VERSION" >echarts/VERSION
echo "vendored Apache ECharts $VERSION into $(pwd)/echarts"
