#!/usr/bin/env bash
# Builds the release artifact: dist/gif-chat-<version>-<arch>-linux.tar.gz, holding the server binary (the
# migrations are compiled into it), the built site (client files, precompressed, and public assets), README.md and
# docs/operating.md (the operator's guide: the systemd unit, the reverse-proxy configuration, probes, backups).
# Nothing else from the source tree is needed to run it: see docs/operating.md.
#
#   scripts/dist.sh            a release build (`make dist`)
#   scripts/dist.sh --debug    packs the debug build already made (the test command's check of the packaging)
#
# Prints the tarball's path.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$ROOT/end2end/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

PROFILE=release
if [ "${1:-}" = "--debug" ]; then
  PROFILE=debug
else
  cargo leptos build --release --precompress >&2
fi

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
NAME="gif-chat-$VERSION-$(uname -m)-linux"
BINARY="target/$PROFILE/gif-chat"
for needed in "$BINARY" target/site/hash.txt; do
  [ -e "$needed" ] || { echo "dist: $needed is missing: build first (cargo leptos build)" >&2; exit 1; }
done

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/gif-chat-dist.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/$NAME/bin"
cp "$BINARY" "$STAGE/$NAME/bin/gif-chat"
cp -r target/site "$STAGE/$NAME/site"
cp README.md "$STAGE/$NAME/"
mkdir -p "$STAGE/$NAME/docs"
cp docs/operating.md "$STAGE/$NAME/docs/"
mkdir -p dist
tar -C "$STAGE" -czf "dist/$NAME.tar.gz" "$NAME"
echo "$ROOT/dist/$NAME.tar.gz"
