#!/usr/bin/env bash
# C tests of the ruv_temporal library and the ESP-IDF component's temporal_task.c, on the host,
# under AddressSanitizer + UndefinedBehaviorSanitizer. Exits non-zero on any failure.
#   1. cargo builds the host static library (target/release/libruv_temporal.a);
#   2. the ctest_fixtures example writes models, frames and the host model's expected outputs;
#   3. gcc builds crates/ruv-temporal/ctest/test_abi.c against include/ruv_temporal.h and the
#      library, and test_task.c + temporal_task.c against a FreeRTOS/ESP-IDF shim; both run
#      (test_task also once under ThreadSanitizer: the shim runs each task on a thread).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
crate=$root/crates/ruv-temporal
component=$root/esp-idf/components/ruv_temporal
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== c-tests: host static library"
cargo build --release -p ruv-temporal
lib=$target_dir/release/libruv_temporal.a
test -f "$lib" || { echo "missing $lib" >&2; exit 1; }

echo "== c-tests: fixtures from the host model"
cargo run --release -q -p ruv-temporal --example ctest_fixtures -- "$work/fixtures"

cflags=(-std=c11 -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer
        -fsanitize=address,undefined -fno-sanitize-recover=all)
libs=("$lib" -lpthread -ldl -lm)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== c-tests: test_abi (ABI, parity with the host model, error codes)"
gcc "${cflags[@]}" -I "$crate/include" "$crate/ctest/test_abi.c" "${libs[@]}" -o "$work/test_abi"
"$work/test_abi" "$work/fixtures"

# test_task.c + temporal_task.c + the shim; the library calls temporal_task.c makes at start
# are renamed to the shim's wrappers, which count the thread they run on.
task_build=(-I "$crate/ctest/shim" -I "$component/include" -I "$crate/include"
            -Druv_temporal_kernel_self_test=shim_kernel_self_test
            -Druv_temporal_init=shim_temporal_init -Druv_temporal_model_dims=shim_model_dims
            "$component/temporal_task.c" "$crate/ctest/shim/freertos_shim.c"
            "$crate/ctest/test_task.c")
# The model EMBED_FILES would put in the image.
embedded=(-DMODEL_PATH="\"$work/fixtures/model_v2_f32.rvne\"" "$crate/ctest/embed_model.S")

echo "== c-tests: test_task (temporal_task.c on a FreeRTOS shim)"
gcc "${cflags[@]}" "${task_build[@]}" "${embedded[@]}" "${libs[@]}" -o "$work/test_task"
"$work/test_task" "$work/fixtures"

echo "== c-tests: test_task on a unicore FreeRTOS (the task goes to core 0)"
gcc "${cflags[@]}" -DSHIM_VARIANT_UNICORE -DEXPECT_CORE=0 "${task_build[@]}" "${embedded[@]}" \
    "${libs[@]}" -o "$work/test_task_unicore"
"$work/test_task_unicore" "$work/fixtures"

echo "== c-tests: test_task under ThreadSanitizer (start's handshake with the task's thread)"
gcc -std=c11 -O1 -g -Wall -Wextra -Werror -fsanitize=thread "${task_build[@]}" "${embedded[@]}" \
    "${libs[@]}" -o "$work/test_task_tsan"
TSAN_OPTIONS=halt_on_error=1 "$work/test_task_tsan" "$work/fixtures"

echo "== c-tests: test_task with the model in a data partition and a heap region (PSRAM, then internal RAM only)"
for placement in psram internal; do
    extra=()
    [ "$placement" = internal ] && extra=(-DSHIM_REGION_INTERNAL_ONLY)
    gcc "${cflags[@]}" -DSHIM_VARIANT_PARTITION_REGION "${extra[@]}" \
        -Druv_temporal_heap_init=shim_heap_init "${task_build[@]}" "${libs[@]}" \
        -o "$work/test_task_region_$placement"
    "$work/test_task_region_$placement" "$work/fixtures"
done

echo "== c-tests: compile-only: feature-off build of temporal_task.c, shim.c, the README's app_main call"
gcc "${cflags[@]}" -fsyntax-only -DSHIM_VARIANT_DISABLED -I "$crate/ctest/shim" \
    -I "$component/include" "$component/temporal_task.c"
for variant in -DSHIM_VARIANT_DISABLED -DSHIM_VARIANT_ENABLED; do
    gcc "${cflags[@]}" -fsyntax-only "$variant" -I "$crate/ctest/shim" -I "$component/include" \
        "$crate/ctest/app_main_snippet.c"
done
gcc "${cflags[@]}" -fsyntax-only -I "$crate/ctest/shim" -I "$component/include" \
    -I "$crate/include" "$component/shim.c"
echo "c-tests passed"
