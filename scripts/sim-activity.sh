#!/usr/bin/env bash
# The simulator activity experiment (issue: 6 classes, unseen rooms). Trains on labelled
# recordings from 160 seeded random room geometries and scores rooms never seen in training
# (the named `bedroom` and `corridor` geometries).
# Usage: scripts/sim-activity.sh [WINDOW] [DIR] [TRAIN OPTIONS...]
#   e.g. HOP=16 scripts/sim-activity.sh 256 target/sim-activity --events fall,sit_down
# Prints `aether eval` for the unseen rooms; everything it writes stays under DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-32}
dir=${2:-target/sim-activity}
shift $(($# < 2 ? $# : 2))
cargo build -q --release -p aether-cli
aether=$PWD/target/release/aether
mkdir -p "$dir"
cd "$dir"
if [ ! -d train ]; then
    # Continuous activities: 20 s each; short events (fall ~0.7 s, sit-down ~1.5 s inside
    # "still"): 10 s each, twice as many seeds.
    for s in $(seq 1 20); do
        for sc in empty still walking wave; do
            "$aether" simulate --scenario $sc --seconds 20 --seed "$s" --room random --out train/$sc-$s >/dev/null
        done
    done
    for s in $(seq 1 40); do
        for sc in fall sit_down; do
            "$aether" simulate --scenario $sc --seconds 10 --seed "$s" --room random --out train/$sc-$s >/dev/null
        done
    done
    for room in bedroom corridor; do
        for s in $(seq 1001 1005); do
            for sc in empty still walking wave; do
                "$aether" simulate --scenario $sc --seconds 20 --seed "$s" --room $room --out test/$room-$sc-$s >/dev/null
            done
            for sc in fall sit_down; do
                for t in 0 1; do
                    "$aether" simulate --scenario $sc --seconds 10 --seed $((s * 10 + t)) --room $room \
                        --out test/$room-$sc-$s-$t >/dev/null
                done
            done
        done
    done
fi
"$aether" train --data train --split-by recording --window "$window" --hop "${HOP:-8}" --out "sim-w$window.rvne" "$@"
"$aether" eval --model "sim-w$window.rvne" --data test --idle-class empty
