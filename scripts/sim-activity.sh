#!/usr/bin/env bash
# The simulator activity experiment (issue: 6 classes, unseen rooms). Trains on labelled
# recordings from 48 (or $INSTALLATIONS) random room installations and scores installations
# of the named `bedroom` and `corridor` geometries, never seen in training. Every installation has its own
# empty-room capture, so a head trained with `--reference` is scored calibrated per session
# (each installation's first 5 s of empty room as its node reference), as a deployed node is.
# Usage: scripts/sim-activity.sh [WINDOW] [DIR] [TRAIN OPTIONS...]
# DIR keeps the recordings: a second run on DIR reuses them once a generation has finished
# (DIR/.complete; delete it, or DIR/train and DIR/test, to regenerate).
#   e.g. HOP=16 scripts/sim-activity.sh 256 target/sim-activity --events fall,sit_down,wave --reference
#   (add --feature-set csi22 for a head on feature set 4, the best rows of crates/aether-train)
# THREADS=N scores on N threads; pass --threads N (a TRAIN OPTION) to train on N.
# TAKES=N records N fall and N sit-down takes per training installation (default 1, at most 9:
# the takes' motion seeds are i*100+10+t and i*100+20+t); the test rooms keep 2 each.
# RECALL=CLASS:R (e.g. fall:0.99) also tunes the head's operating point for that class on the
# validation installations (`aether tune`) and scores the tuned head (sim-w<W>-<CLASS><R>.rvne);
# with FUSED=1 the recall is set on the decisions fused over each installation's two nodes
# (`tune --fused`, sim-w<W>-fused-<CLASS><R>.rvne), the ones `eval`'s fused report scores.
# IDEAL=1 records every capture with a perfect receiver (`simulate --ideal`: no noise, random
# phase, AGC or timing jitter): the ceiling the ESP32 impairments leave to the head.
# Prints `aether eval` for the unseen rooms; everything it writes stays under DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-32}
dir=${2:-target/sim-activity}
shift $(($# < 2 ? $# : 2))
takes=${TAKES:-1}
case $takes in [1-9]) ;; *) echo "TAKES=$takes: must be 1-9 (motion seeds i*100+10+t stay below the next scenario's)" >&2; exit 2 ;; esac
# RECALL reads the validation installations from the default checkpoint's state file.
if [ -n "${RECALL:-}" ]; then
    for a in "$@"; do
        [ "$a" = --checkpoint ] && { echo "RECALL reads val_groups from the default checkpoint: leave --checkpoint out" >&2; exit 2; }
    done
fi
cargo build -q --release -p aether-cli
aether=$PWD/target/release/aether
ideal=()
[ "${IDEAL:-0}" = 1 ] && ideal=(--ideal)
mkdir -p "$dir"
cd "$dir"
# One installation: an empty-room capture, then each activity with its own motion seed.
# Short events (fall ~0.9 s, sit-down ~1.5 s) sit inside "still".
installation() { # OUT ROOM INSTALLATION SECONDS EVENT_TAKES
    local out=$1 room=$2 i=$3 secs=$4 takes=$5
    # Every capture's motion seed is i*100 + something below 100, so no two captures of any
    # installation share a seed (the empty capture used seed i, which collided with
    # installation i/100's captures).
    "$aether" simulate --scenario empty --seconds "$secs" --seed $((i * 100 + 99)) \
        --installation "$i" --room "$room" --out "$out/$room-$i" "${ideal[@]}" >/dev/null
    for sc in still walking wave; do
        "$aether" simulate --scenario $sc --seconds "$secs" --seed $((i * 100 + ${#sc})) \
            --installation "$i" --room "$room" --out "$out/$room-$i" "${ideal[@]}" >/dev/null
    done
    for t in $(seq 1 "$takes"); do
        "$aether" simulate --scenario fall --seconds 10 --seed $((i * 100 + 10 + t)) \
            --installation "$i" --room "$room" --out "$out/$room-$i" "${ideal[@]}" >/dev/null
        "$aether" simulate --scenario sit_down --seconds 10 --seed $((i * 100 + 20 + t)) \
            --installation "$i" --room "$room" --out "$out/$room-$i" "${ideal[@]}" >/dev/null
    done
}
# A generation that was stopped part-way, or made by another simulator version or for another
# INSTALLATIONS (recorded in .complete), would otherwise be reused as if complete.
# ideal-2: ideal captures no longer end on an unlabelled frame (impaired ones are unchanged).
generation="simulator-3 train-1-${INSTALLATIONS:-48} test-1001-1008-1101-1108${ideal:+ ideal-2}"
[ "$takes" = 1 ] || generation="$generation train-takes-$takes"
if [ "$(cat .complete 2>/dev/null)" != "$generation" ]; then
    rm -rf train test
    for i in $(seq 1 "${INSTALLATIONS:-48}"); do installation train random "$i" 10 "$takes"; done
    # Each test room its own installation range (1001-1004 served both rooms, so a bedroom
    # and a corridor capture shared every random stream: timing, losses, person, noise).
    for i in $(seq 1001 1008); do installation test bedroom "$i" 20 2; done
    for i in $(seq 1101 1108); do installation test corridor "$i" 20 2; done
    echo "$generation" > .complete
fi
calibrate=()
for a in "$@"; do [ "$a" = --reference ] && calibrate=(--calibrate-sessions); done
"$aether" train --data train --split-by session --window "$window" --hop "${HOP:-8}" \
    --idle-class empty --out "sim-w$window.rvne" "$@"
"$aether" eval --model "sim-w$window.rvne" --data test --idle-class empty --threads "${THREADS:-1}" \
    "${calibrate[@]}"
# RECALL=CLASS:R sets that class's operating point on the validation installations (never the
# test rooms) with `aether tune`, then scores the tuned head on the test rooms as well.
if [ -n "${RECALL:-}" ]; then
    class=${RECALL%%:*} recall=${RECALL#*:}
    rm -rf val && mkdir val
    python3 -c 'import json, sys
for g in json.load(open(sys.argv[1]))["run"]["val_groups"]: print(g.rsplit("-i", 1)[1])' \
        "sim-w$window.rvne.ckpt.json" | while read -r i; do ln -s "../train/random-$i" "val/random-$i"; done
    tuned="sim-w$window-$class$recall.rvne" fused=()
    if [ "${FUSED:-0}" = 1 ]; then tuned="sim-w$window-fused-$class$recall.rvne" fused=(--fused); fi
    "$aether" tune --model "sim-w$window.rvne" --data val --class "$class" --recall "$recall" \
        --idle-class empty --threads "${THREADS:-1}" "${calibrate[@]}" "${fused[@]}" --out "$tuned"
    "$aether" eval --model "$tuned" --data test --idle-class empty --threads "${THREADS:-1}" \
        "${calibrate[@]}"
fi
