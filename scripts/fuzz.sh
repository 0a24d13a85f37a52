#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that takes bytes from outside: packets, compressed
# CSI streams, model files (fuzz/) and recordings (crates/aether-io/fuzz). Not part of CI (it
# needs nightly and minutes per target). Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Seeds each corpus from real files, then prints executions and findings per target.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
shared=../shared/data
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal

# Seed corpora (cheap, idempotent).
mkdir -p fuzz/corpus/{packets,compressed_csi,rvne}
AETHER_FUZZ_CORPUS=$PWD/fuzz/corpus/packets \
    cargo test -q --release -p aether-csi --test packets -- --ignored write_fuzz_corpus >/dev/null
cp fuzz/corpus/packets/* fuzz/corpus/compressed_csi/
cargo build -q --release -p aether-cli
./target/release/aether init-random --out fuzz/corpus/rvne/v1-seed.rvne >/dev/null
if [ ! -f fuzz/corpus/rvne/v2-small.rvne ]; then
    ./target/release/aether train --data "$shared/espectre" --epochs 1 --d-model 8 --layers 1 \
        --heads 2 --kv-heads 1 --head-dim 4 --d-ff 8 --out fuzz/corpus/rvne/v2-small.rvne >/dev/null
    ./target/release/aether train --data "$shared/espectre" --epochs 1 --d-model 8 --layers 1 \
        --heads 2 --kv-heads 1 --head-dim 4 --d-ff 8 --dtype int8 \
        --out fuzz/corpus/rvne/v2-small-int8.rvne >/dev/null
fi
io=crates/aether-io/fuzz/corpus
mkdir -p $io/{ruview_jsonl,csv_lines,npz}
head -c 4000 $shared/ruview/*.jsonl >$io/ruview_jsonl/seed
head -c 4000 $shared/csikit-esp32/example_data.csv >$io/csv_lines/seed
cp $shared/espectre/baseline/*.npz $io/npz/ 2>/dev/null || true

run() { # dir target max_len
    local dir=$1 target=$2 max_len=$3 log
    log=$(mktemp)
    (cd "$dir" && cargo +nightly fuzz run "$target" -- -max_total_time="$secs" \
        -max_len="$max_len" -rss_limit_mb=4096 -print_final_stats=1) >"$log" 2>&1 || {
        echo "$target: FAILED (log $log)"
        grep -E "panicked|ERROR|artifact" "$log" | head -5
        return 1
    }
    printf '%-15s %s\n' "$target" "$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions, no findings, $(ls "$dir/corpus/$target" | wc -l) corpus files"
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $target "* ]]; }
status=0
for target in packets compressed_csi rvne; do
    want "$@" || continue
    len=4096; [ $target = rvne ] && len=65536
    run fuzz $target $len || status=1
done
for target in ruview_jsonl csv_lines npz; do
    want "$@" || continue
    len=8192; [ $target = npz ] && len=131072
    run crates/aether-io/fuzz $target $len || status=1
done
exit $status
