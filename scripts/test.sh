#!/usr/bin/env bash
# Sets up a fresh machine and runs every check: formatting, lints, and the
# whole test suite (unit tests, the hostile-plugin sandbox tests, and the
# end-to-end tests against a real nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
source scripts/env.sh

cargo fmt --all -- --check
cargo fmt --manifest-path tests/bench/Cargo.toml --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The benchmark suite in quick mode (tiny counts; no timing is asserted),
# so it cannot rot, and the harness's own unit tests.
if [ "$status" = 0 ]; then
    benchlog="$(mktemp)"
    set +e
    {
        (cd tests/bench && cargo test --locked --release -p rosey-bench-harness) &&
            bash scripts/bench.sh --quick --out "$(dirname "$benchlog")/bench-results-quick.json"
    } >"$benchlog" 2>&1
    bench_status=$?
    set -e
    grep -E '^(test result:|[0-9]+ of [0-9]+ targets met)' "$benchlog" | tee -a "$log" || true
    if [ "$bench_status" != 0 ]; then
        tail -n 60 "$benchlog"
        echo "the benchmark suite failed in quick mode (exit $bench_status); reproduce with scripts/bench.sh --quick" >&2
        status=1
    fi
    rm -f "$benchlog"
fi

# The fuzz targets, briefly, where a nightly toolchain is installed (a
# longer run: scripts/fuzz.sh 600). A crash found here fails the run.
if [ "$status" = 0 ] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzzlog="$(mktemp)"
    set +e
    bash scripts/fuzz.sh "${ROSEY_FUZZ_SECONDS:-15}" >"$fuzzlog" 2>&1
    fuzz_status=$?
    set -e
    grep -E '^(==> fuzzing|Done [0-9]+ runs)' "$fuzzlog" || true
    if [ "$fuzz_status" != 0 ]; then
        tail -n 60 "$fuzzlog"
        echo "fuzzing failed (exit $fuzz_status); reproduce with scripts/fuzz.sh" >&2
        status=1
    fi
    rm -f "$fuzzlog"
fi

# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "Summary: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
