#!/usr/bin/env bash
# Fuzz the .roseyplug reader, the manifest parser and the index and
# signature parsers with cargo-fuzz
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
mkdir -p "$corpus/archive" "$corpus/manifest" "$corpus/index"
cp example-plugins/*/manifest.yaml tests/guests/*/manifest.yaml "$corpus/manifest/" 2>/dev/null || true
# Archives built by scripts/demo.sh, if any, seed the archive target.
cp "${CARGO_TARGET_DIR%/fuzz}"/*.roseyplug "$corpus/archive/" 2>/dev/null || true
# A small index and a signature seed the index target.
cat >"$corpus/index/seed-index" <<'JSON'
{"rosey_index": 1, "name": "seed", "plugins": {"echo": {"description": "x", "tags": ["a"],
 "versions": [{"version": "0.1.0", "url": "echo-0.1.0.roseyplug", "rosey_api": "^0.1",
 "sha256": "d7ddecc3427cd3bb9323945441f559b45666b017b0112e90d01446bb7c59413e",
 "dependencies": [{"name": "geo", "version": "^1"}], "yanked": false}]}}}
JSON
printf 'untrusted comment: signature from rosey secret key\nRUQdXNc+xc265drkRiM/igXK8exZ5aLSmsg22BGZASQ75+sR1FUMPkvEYa3dQfifDlkFSEEJp2PCuhdKmdHEbdUZOUU/t7MYrA0=\ntrusted comment: timestamp:1796564481\tfile:echo-0.1.0.roseyplug\tplugin:echo@0.1.0\nAm+GY+0EGrjijkxdvNvgGZXKRTrMLQrO1xh4L4RjfkHJrGzJz9aIpXtMHDayzD9gHGtoSki99Gw3Cxsg190RCw==\n' >"$corpus/index/seed-signature"
for p in "$corpus"/manifest/*.yaml; do mv "$p" "$corpus/manifest/$(sha256sum "$p" | cut -c1-16)"; done

cd host/package
for target in archive manifest index; do
    echo "==> fuzzing $target for ${seconds}s" >&2
    cargo +nightly fuzz run "$target" "$corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048
done
