#!/usr/bin/env bash
# Fuzz the .roseyplug reader and the manifest parser with cargo-fuzz
# (libFuzzer, nightly). Usage: scripts/fuzz.sh [SECONDS-PER-TARGET] (default 60).
# Seeds come from the example plugins, so the fuzzer starts from valid input.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: no nightly toolchain; install it with \`rustup toolchain install nightly\`" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rosey-target}/fuzz"
corpus="$CARGO_TARGET_DIR/corpus"
mkdir -p "$corpus/archive" "$corpus/manifest"
cp example-plugins/*/manifest.yaml tests/guests/*/manifest.yaml "$corpus/manifest/" 2>/dev/null || true
# Archives built by scripts/demo.sh, if any, seed the archive target.
cp "${CARGO_TARGET_DIR%/fuzz}"/*.roseyplug "$corpus/archive/" 2>/dev/null || true
for p in "$corpus"/manifest/*.yaml; do mv "$p" "$corpus/manifest/$(sha256sum "$p" | cut -c1-16)"; done

cd host/package
for target in archive manifest; do
    echo "==> fuzzing $target for ${seconds}s" >&2
    cargo +nightly fuzz run "$target" "$corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
