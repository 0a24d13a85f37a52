#!/usr/bin/env bash
# Device checks (CI calls this from .ci/run): exits non-zero on any failure.
#   1. installs what is missing: the two RISC-V bare-metal Rust targets, qemu-system-riscv32
#      (Debian package qemu-system-misc), gcc;
#   2. C tests of the ruv_temporal library and temporal_task.c under ASan + UBSan
#      (scripts/c-tests.sh);
#   3. every no_std crate built alone for riscv32imc (no FPU, ESP32-C3/C6 class) and
#      riscv32imafc (single-precision FPU), which also proves no std leaks in through
#      feature unification;
#   4. the bare-metal test program (crates/ruv-temporal-qemu) on QEMU's virt machine for both
#      targets: self-test, classification against the host model's logits, minstret counts;
#   5. code size of the linked test program per target.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TERM_COLOR=never
target_dir=${CARGO_TARGET_DIR:-$root/target}
targets=(riscv32imc-unknown-none-elf riscv32imafc-unknown-none-elf)
no_std_crates=(aether-kernel aether-rvne aether-csi aether-model ruv-temporal)
start=$(date +%s)

echo "== device-checks: tools"
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
    if ! grep -qx "$t" <<<"$installed"; then
        rustup target add "$t"
    fi
done
need_apt=()
command -v qemu-system-riscv32 >/dev/null || need_apt+=(qemu-system-misc)
command -v gcc >/dev/null || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo_cmd=()
    if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}"
fi
qemu-system-riscv32 --version | head -1

echo "== device-checks: C tests under sanitizers"
scripts/c-tests.sh

echo "== device-checks: no_std crates, each alone, for both RISC-V targets"
for t in "${targets[@]}"; do
    for c in "${no_std_crates[@]}"; do
        echo "-- $c / $t"
        cargo build --release -q -p "$c" --target "$t"
    done
    # The ESP-IDF component's other allocator as well.
    cargo build --release -q -p ruv-temporal --target "$t" --features device-heap-caps
done

echo "== device-checks: bare-metal test program on QEMU virt"
status=0
for t in "${targets[@]}"; do
    cargo build --release -q -p ruv-temporal-qemu --target "$t"
    elf=$target_dir/$t/release/ruv-temporal-qemu
    log=$(mktemp)
    set +e
    timeout 600 qemu-system-riscv32 -machine virt -nographic -bios none -icount shift=0 \
        -kernel "$elf" </dev/null >"$log" 2>&1
    rc=$?
    set -e
    cat "$log"
    if [ $rc -ne 0 ] || ! grep -q "VERDICT: PASS" "$log"; then
        echo "QEMU run for $t failed (exit $rc)" >&2
        status=1
    fi
    rm -f "$log"
    # Linked sizes (readelf works for any ELF machine; fields after "[Nr]": name type addr off size).
    sizes=""
    while read -r name _type _addr _off size _rest; do
        case $name in
            .text|.rodata|.data|.bss) sizes+=" $name $((16#$size)) B," ;;
        esac
    done < <(readelf -SW "$elf" | sed -n 's/^ *\[ *[0-9]*\] *//p')
    echo "code size $t:${sizes%,} (test program incl. library; .bss holds its 2 MiB heap array)"
    lib=$target_dir/$t/release/libruv_temporal.a
    if [ -f "$lib" ]; then
        echo "static library $t: $(stat -c %s "$lib") B archive (before linking and section GC)"
    fi
done
if [ $status -ne 0 ]; then
    exit $status
fi
echo "device-checks passed in $(( $(date +%s) - start )) s"
