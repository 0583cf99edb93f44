#!/usr/bin/env bash
# Research aid: re-encode every GIF in DIR to H.264/MP4 and VP9/WebM with
# several settings and record size, encode wall time, SSIM against the GIF,
# frame count and duration.
#
# Usage: scripts/gif-corpus/compare-codecs.sh DIR [SETTING...]
#   DIR      a corpus made by fetch.sh
#   SETTING  names from the table below (default: all)
# Writes DIR/.compare/results.tsv and prints the per-setting medians.
set -euo pipefail
dir=$(cd "$1" && pwd); shift
out="$dir/.compare"; mkdir -p "$out"

# name, container, codec arguments. Unless the name ends in "-cfr", the
# timing arguments below are added: they keep every GIF frame with its own
# timestamp (VFR) and give the last frame its real delay.
settings='x264-crf23 mp4 -c:v libx264 -preset medium -crf 23
x264-crf26 mp4 -c:v libx264 -preset medium -crf 26
x264-crf28 mp4 -c:v libx264 -preset medium -crf 28
x264-crf26-cfr mp4 -c:v libx264 -preset medium -crf 26
x264-slow-crf26 mp4 -c:v libx264 -preset slow -crf 26
x264-slow-crf28 mp4 -c:v libx264 -preset slow -crf 28
x264-anim-crf26 mp4 -c:v libx264 -preset medium -tune animation -crf 26
x264-anim-crf28 mp4 -c:v libx264 -preset medium -tune animation -crf 28
vp9-crf33 webm -c:v libvpx-vp9 -b:v 0 -crf 33 -row-mt 1 -deadline good -cpu-used 4
vp9-crf36 webm -c:v libvpx-vp9 -b:v 0 -crf 36 -row-mt 1 -deadline good -cpu-used 4
vp9-crf40 webm -c:v libvpx-vp9 -b:v 0 -crf 40 -row-mt 1 -deadline good -cpu-used 4'
want=" $* "

probe() { ffprobe -v error -select_streams v:0 "$@"; }
frames() { probe -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
duration() { ffprobe -v error -show_entries format=duration -of csv=p=0 "$1"; }

res="$out/results.tsv"
printf 'gif\tsetting\tgif_bytes\tout_bytes\tratio\tsecs\tssim\tgif_frames\tout_frames\tgif_dur\tout_dur\ttransparent\n' >"$res"
for gif in "$dir"/*.gif; do
  g=$(basename "$gif" .gif)
  gb=$(stat -c %s "$gif"); gf=$(frames "$gif"); gd=$(duration "$gif")
  # Last frame's delay in 1/100 s (the GIF demuxer's time base).
  last=$(probe -show_entries packet=duration -of csv=p=0 "$gif" | tail -1)
  timing=(-fps_mode passthrough -r "100/$last" -enc_time_base 1:100)
  # Smallest alpha over all decoded frames: < 255 means see-through pixels.
  amin=$(nice -n 10 ffmpeg -nostdin -v error -i "$gif" -vf \
    "alphaextract,signalstats,metadata=print:key=lavfi.signalstats.YMIN:file=-" \
    -f null - | awk -F= '/YMIN/ { if (m == "" || $2 < m) m = $2 } END { print m + 0 }')
  transp=$([ "$amin" -lt 255 ] && echo yes || echo no)
  while read -r name ext args <&3; do
    [ "$want" = "  " ] || [[ "$want" == *" $name "* ]] || continue
    o="$out/$g.$name.$ext"
    extra=(); [[ $name == *-cfr ]] || extra=("${timing[@]}")
    [ "$ext" = mp4 ] && extra+=(-movflags +faststart)
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086 # $args is a list of options
    nice -n 10 ffmpeg -nostdin -y -v error -i "$gif" -an -pix_fmt yuv420p \
      -vf "scale=trunc(iw/2)*2:trunc(ih/2)*2" $args "${extra[@]}" "$o"
    t1=$(date +%s.%N)
    ssim=$(nice -n 10 ffmpeg -nostdin -i "$o" -i "$gif" -lavfi \
      "[0:v]format=yuv420p[a];[1:v]scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p[b];[a][b]ssim" \
      -f null - 2>&1 | sed -n 's/.* All:\([0-9.]*\).*/\1/p' | tail -1)
    ob=$(stat -c %s "$o")
    printf '%s\t%s\t%s\t%s\t%.4f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\n' "$g" "$name" "$gb" "$ob" \
      "$(echo "$ob / $gb" | bc -l)" "$(echo "$t1 - $t0" | bc -l)" "$ssim" \
      "$gf" "$(frames "$o")" "$gd" "$(duration "$o")" "$transp" >>"$res"
  done 3<<<"$settings"
  echo "done $g" >&2
done

# Medians per setting (size ratio = out/gif bytes, lower is better).
python3 - "$res" <<'EOF'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print(f"{'setting':18} {'n':>3} {'med ratio':>9} {'med ssim':>8} {'min ssim':>8} {'frames ok':>9} {'dur ok':>6} {'med secs':>8}")
for s in dict.fromkeys(r["setting"] for r in rows):
    rs = [r for r in rows if r["setting"] == s]
    f = lambda k: [float(r[k]) for r in rs]
    fok = sum(r["gif_frames"] == r["out_frames"] for r in rs)
    dok = sum(abs(float(r["gif_dur"]) - float(r["out_dur"])) < 0.011 for r in rs)
    print(f"{s:18} {len(rs):3} {st.median(f('ratio')):9.3f} {st.median(f('ssim')):8.4f} "
          f"{min(f('ssim')):8.4f} {fok:9} {dok:6} {st.median(f('secs')):8.2f}")
EOF
