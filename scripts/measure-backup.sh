#!/usr/bin/env bash
# Times `rosey db backup` and `rosey db restore` on a home with N plugins and
# about TOTAL_MB of data, offline and on a running host (figures for
# docs/operator-guide.md; not a test: nothing here passes or fails on time).
#
#   scripts/measure-backup.sh [N=20] [TOTAL_MB=100]
#
# Uses the rosey binary in $CARGO_TARGET_DIR/debug (build it first) and the
# quote-bot component the test build made (ROSEY_GUEST_TARGET_DIR).
set -euo pipefail
N=${1:-20}
TOTAL_MB=${2:-100}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/rosey-target}
ROSEY=${ROSEY_BIN:-$TARGET/debug/rosey}
WASM=${ROSEY_GUEST_TARGET_DIR:-$TARGET/guests}/wasm32-wasip2/release/quote_bot.wasm
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$ROSEY" ] || { echo "no rosey binary at $ROSEY: cargo build -p rosey-cli" >&2; exit 1; }
[ -f "$WASM" ] || { echo "no quote-bot component at $WASM: cargo test -p rosey-tests --no-run" >&2; exit 1; }

WORK=$(mktemp -d)
trap '"$ROSEY" --home "$WORK/home" stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
export ROSEY_HOME=$WORK/home
per_plugin_mb=$((TOTAL_MB / N))

echo "building and installing $N plugins..." >&2
for i in $(seq -w 1 "$N"); do
  dir=$WORK/src/quotes-$i
  mkdir -p "$dir"
  cp -r "$ROOT/example-plugins/quote-bot/migrations" "$dir/"
  sed "s/^name: quote-bot/name: quotes-$i/; s/^  - name: quote$/  - name: quote$i/" \
    "$ROOT/example-plugins/quote-bot/manifest.yaml" > "$dir/manifest.yaml"
  cp "$WASM" "$dir/plugin.wasm"
  "$ROSEY" plugin build "$dir" -o "$WORK/quotes-$i.roseyplug" >/dev/null
  "$ROSEY" plugin install "$WORK/quotes-$i.roseyplug" --yes >/dev/null 2>&1
done

echo "writing ${per_plugin_mb} MB of quotes into each..." >&2
python3 - "$ROSEY_HOME" "$N" "$per_plugin_mb" <<'PY'
import os, sqlite3, sys
home, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(1, n + 1):
    db = sqlite3.connect(f"{home}/plugins/quotes-{i:0{len(str(n))}d}/database.db")
    rows = (mb << 20) // 1024
    db.executemany("INSERT INTO quotes (text, added_by, added_at) VALUES (?, 'bench', 0)",
                   ((os.urandom(500).hex(),) for _ in range(rows)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
du -sh "$ROSEY_HOME/plugins" >&2

seconds() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["seconds"], 2))'; }
echo "offline:"
b=$("$ROSEY" db backup "$WORK/offline.zip" --output json | seconds)
r=$("$ROSEY" db restore "$WORK/offline.zip" --yes --output json | seconds)
echo "  backup ${b} s ($(du -h "$WORK/offline.zip" | cut -f1)), restore ${r} s"

echo "on a running host:"
"$ROSEY" start >/dev/null
b=$("$ROSEY" db backup "$WORK/online.zip" --output json | seconds)
r=$("$ROSEY" db restore "$WORK/online.zip" --yes --output json | seconds)
echo "  backup ${b} s, restore ${r} s (stops, swaps and restarts all $N plugins)"
