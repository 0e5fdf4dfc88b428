#!/usr/bin/env bash
# Fuzz smoke test: runs each cargo-fuzz target for a short time (FUZZ_SECONDS, default 20).
# Works on stable Rust: `--sanitizer none` keeps libFuzzer's coverage instrumentation (stable
# -C flags) and drops AddressSanitizer, which needs nightly's -Zsanitizer. The parsers fuzzed
# here are safe Rust, so ASan would add little. A crash fails the script and leaves the input in
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

cd fuzz
cargo fuzz build --sanitizer none
for target in status_parser barcode_parser sale_body canonical_body; do
    echo "fuzzing $target for ${seconds}s"
    log=$(mktemp)
    # Seeds kept in git (real inputs to mutate from) join the generated corpus.
    corpus=(corpus/"$target")
    mkdir -p "${corpus[0]}"
    if [ -d seeds/"$target" ]; then
        corpus+=(seeds/"$target")
    fi
    if ! cargo fuzz run --sanitizer none "$target" "${corpus[@]}" -- -max_total_time="$seconds" >"$log" 2>&1; then
        tail -n 40 "$log"
        rm -f "$log"
        echo "fuzz-smoke: $target failed" >&2
        exit 1
    fi
    grep -E '^Done [0-9]+ runs' "$log" || tail -n 3 "$log"
    rm -f "$log"
done
