#!/usr/bin/env bash
# Refresh the page's vendored libraries from the npm registry.
#
#   static/vendor/update.sh            # fetch exactly the versions pinned in static/vendor/versions.txt
#   static/vendor/update.sh --latest   # pin the newest release of each, then fetch those
#
# `npm pack` downloads the published tarball and checks it against the registry's integrity hash;
# the ES-module build and the licence are copied out unchanged, so each file can be compared with
# the package of that version. The page has no build step: these files are served as they are.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
versions="$here/versions.txt"

# What to copy out of each package, as "file in the package:name here" (the module, then its licence).
# A function, not an associative array, so the bash 3 that macOS ships runs it too.
files_of() {
  case "$1" in
    marked) echo "lib/marked.esm.js:marked.js LICENSE:marked.LICENSE.txt" ;;
    dompurify) echo "dist/purify.es.mjs:dompurify.js LICENSE:dompurify.LICENSE.txt" ;;
    *) echo "no files listed for $1 in $0" >&2; exit 1 ;;
  esac
}

command -v npm >/dev/null || { echo "npm is needed (Debian: apt-get install npm)" >&2; exit 1; }

if [[ "${1:-}" == "--latest" ]]; then
  : >"$versions.new"
  while read -r name _; do
    echo "$name $(npm view --silent "$name" version)" >>"$versions.new"
  done <"$versions"
  mv "$versions.new" "$versions"
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--latest]" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
while read -r name version; do
  [[ -n "$name" ]] || continue
  tarball="$(cd "$work" && npm pack --silent "$name@$version")"
  mkdir "$work/$name"
  tar -xzf "$work/$tarball" -C "$work/$name"
  entries="$(files_of "$name")" # an assignment, so `set -e` stops on a package with no files listed
  for entry in $entries; do
    cp "$work/$name/package/${entry%%:*}" "$here/${entry##*:}"
  done
  echo "$name $version"
done <"$versions"
