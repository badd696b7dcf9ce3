#!/usr/bin/env bash
# Rosey's benchmark suite (docs/benchmarks.md), in one command: sets up
# what it needs, builds the guests and the harness (release), and runs
# S1-S9 against their peers, printing the table and writing
# bench-results.json.
#
#   scripts/bench.sh                 the whole suite (about 2½ minutes once built)
#   scripts/bench.sh --quick         tiny counts: proves it runs (CI), not figures to quote
#   scripts/bench.sh --only S2,S9    some scenarios
#   scripts/bench.sh --out FILE      write the results elsewhere
#
# The suite is its own Cargo workspace (tests/bench), so its peers (the
# extism crate, an extism-pdk guest, nats-py) never enter the product's
# dependency graph.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

bash scripts/setup.sh
source scripts/env.sh

# Extism's own toolchain builds its guests for wasm32-unknown-unknown.
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target (for the Extism peer's guest; a one-time download)"
    rustup target add wasm32-unknown-unknown
fi

# The Python peer: asyncio + nats-py, pinned, in a venv of its own.
NATS_PY_VERSION=2.16.0
venv="$ROSEY_TOOLS_DIR/bench-python"
if [ "$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('nats-py'))" 2>/dev/null)" != "$NATS_PY_VERSION" ]; then
    say "installing nats-py $NATS_PY_VERSION into $venv (the Python peer)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "nats-py==$NATS_PY_VERSION"
fi

cd tests/bench
guests="$CARGO_TARGET_DIR/bench-guests"
mkdir -p "$guests"
say "building the guests"
# Guests without debug info, as a plugin author ships them.
guest_profile=(--config profile.release.debug=false --config profile.release.strip=true)
cargo build --locked --quiet --release "${guest_profile[@]}" --target wasm32-wasip2 -p rosey-bench
cargo build --locked --quiet --target wasm32-wasip2 -p rosey-bench
cargo build --locked --quiet --release "${guest_profile[@]}" --target wasm32-unknown-unknown -p extism-bench
cp "$CARGO_TARGET_DIR/wasm32-wasip2/release/rosey_bench.wasm" "$guests/rosey_bench.wasm"
cp "$CARGO_TARGET_DIR/wasm32-wasip2/debug/rosey_bench.wasm" "$guests/rosey_bench_debug.wasm"
cp "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/extism_bench.wasm" "$guests/extism_bench.wasm"

say "building the harness (release; the first build takes several minutes)"
cargo build --locked --quiet --release -p rosey-bench-harness

out="$root/bench-results.json"
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
say "running the suite"
exec "$CARGO_TARGET_DIR/release/rosey-bench" \
    --guests "$guests" \
    --python "$venv/bin/python" \
    --python-script "$root/tests/bench/python/plugin.py" \
    --out "$out" \
    ${args[@]+"${args[@]}"}
