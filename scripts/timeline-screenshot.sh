#!/bin/sh
# Draws the demo release's timeline page and photographs it in headless Chromium, served the
# way Jenkins serves an archived artifact: under Content-Security-Policy `sandbox;
# default-src 'none'; img-src 'self'; style-src 'self';`, which blocks scripts, <style> and
# style= attributes. Fails when the screenshot comes out blank.
#
#   scripts/timeline-screenshot.sh [OUT.png]      (default: docs/timeline.png)
#
# Needs /usr/bin/chromium (Debian: apt-get install chromium), python3 and cargo.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/timeline.png}
chromium=${CHROMIUM:-/usr/bin/chromium}
work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
cargo build -q --bin jrun
jrun=${CARGO_TARGET_DIR:-$root/target}/debug/jrun

# The demo fails on purpose (a smoke test), so exit 1 is expected; anything else is not.
TZ=${TZ:-UTC} "$jrun" --sandbox-config scripts/timeline-demo/sandbox.yaml \
    scripts/timeline-demo/pipeline.yaml --progress never --quiet \
    --report "$work/report.json" --html "$work/timeline.html" >/dev/null || {
    code=$?
    [ "$code" -eq 1 ] || { echo "jrun exited $code" >&2; exit "$code"; }
}

python3 "$root/scripts/csp_server.py" "$work" "$work/port" &
server=$!
for _ in $(seq 1 50); do
    [ -s "$work/port" ] && break
    sleep 0.1
done
[ -s "$work/port" ] || { echo "the page server did not start" >&2; exit 1; }
port=$(cat "$work/port")

# Tall enough for the whole page: its SVG grows with the steps.
height=$(python3 - "$work/timeline.html" <<'PY'
import re, sys
page = open(sys.argv[1]).read()
svg = int(re.search(r'<svg[^>]* height="(\d+)"', page).group(1))
rows = page.count("<tr>") + page.count("<br>")
pre = sum(block.count("\n") for block in re.findall(r"<pre>(.*?)</pre>", page, re.S))
print(svg + 260 + 30 * rows + 18 * pre + 90 * page.count("<h3>"))
PY
)

mkdir -p "$(dirname "$out")"
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$work/profile" --screenshot="$out" \
    --window-size=1400,"$height" "http://127.0.0.1:$port/timeline.html" 2>"$work/chromium.log" || {
    cat "$work/chromium.log" >&2
    exit 1
}

# Green and red builds and the critical path's band: the SVG was drawn, not blocked.
python3 "$root/scripts/png_colours.py" "$out" 12 2e7d32 c62828 fff3e0
echo "$out"
