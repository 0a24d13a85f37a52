//! Bare-metal test program for QEMU's RISC-V `virt` machine (run by scripts/device-checks.sh):
//!
//! `qemu-system-riscv32 -machine virt -nographic -bios none -icount shift=0 -kernel <elf>`
//!
//! It hands the library a heap region of exactly the largest `ruv_temporal_required_heap` of
//! the contexts it creates, runs the built-in self-test, classifies a generated 256-frame window
//! with the default v2 head (f32 and int8 weights) and compares the logits with the host
//! model's, then streams frames in streaming mode. Around classify and around one streamed
//! frame it reads `minstret` (instructions retired; exact under `-icount`), and it measures the
//! stack classify uses by painting the stack. Output goes to the 16550 UART at 0x1000_0000;
//! the verdict leaves through the SiFive test device at 0x10_0000 (exit code 0 = pass).
//!
//! On other targets this is an empty program, so the workspace still builds on hosts.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    println!("ruv-temporal-qemu runs on riscv32 bare metal only (see scripts/device-checks.sh)");
}

#[cfg(target_os = "none")]
mod bare {
    use core::fmt::Write;
    use ruv_temporal::status::*;
    use ruv_temporal::*;

    include!(concat!(env!("OUT_DIR"), "/generated.rs"));

    static MODEL_F32: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model_f32.rvne"));
    static MODEL_INT8: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model_int8.rvne"));
    static MODEL_CSI19: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model_csi19.rvne"));
    static MODEL_CSI22: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model_csi22.rvne"));

    /// Must equal `frame_value` in build.rs.
    fn frame_value(t: usize, j: usize) -> f32 {
        (((t * 29 + j * 13) % 23) as f32 - 11.0) * 0.125
    }

    /// Must equal `iq_byte` in build.rs.
    fn iq_byte(t: usize, i: usize) -> u8 {
        ((((i * 7 + t * 3) % 53) as i32 - 26 + if i % 2 == 1 { 20 } else { 0 }) as i8) as u8
    }

    /// Must equal `csi_ts` in build.rs.
    fn csi_ts(t: usize) -> u64 {
        5_000_000 + t as u64 * 10_000
    }

    const UART: *mut u8 = 0x1000_0000 as *mut u8;
    const TEST_DEVICE: *mut u32 = 0x10_0000 as *mut u32;

    struct Uart;

    impl Write for Uart {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for b in s.bytes() {
                // SAFETY: the 16550's transmit register on QEMU virt; LSR bit 5 = THR empty.
                unsafe {
                    while core::ptr::read_volatile(UART.add(5)) & 0x20 == 0 {}
                    core::ptr::write_volatile(UART, b);
                }
            }
            Ok(())
        }
    }

    macro_rules! say {
        ($($arg:tt)*) => {{ let _ = writeln!(Uart, $($arg)*); }};
    }

    fn exit(pass: bool) -> ! {
        // SAFETY: SiFive test device: 0x5555 = pass, (code << 16) | 0x3333 = fail.
        unsafe {
            core::ptr::write_volatile(TEST_DEVICE, if pass { 0x5555 } else { (1 << 16) | 0x3333 })
        };
        loop {
            // SAFETY: wait for interrupt; QEMU has already exited.
            unsafe { core::arch::asm!("wfi") };
        }
    }

    fn instret() -> u64 {
        loop {
            let (hi, lo, hi2): (u32, u32, u32);
            // SAFETY: reading the machine instret counter has no side effects.
            unsafe {
                core::arch::asm!("csrr {0}, minstreth", "csrr {1}, minstret", "csrr {2}, minstreth",
                    out(reg) hi, out(reg) lo, out(reg) hi2);
            }
            if hi == hi2 {
                return (u64::from(hi) << 32) | u64::from(lo);
            }
        }
    }

    // ---- firmware hooks the library needs ----

    #[no_mangle]
    extern "C" fn ruv_temporal_panic_hook(msg: *const u8, len: usize) -> ! {
        // SAFETY: the library passes its message buffer.
        let text = unsafe { core::slice::from_raw_parts(msg, len) };
        say!(
            "PANIC: {}",
            core::str::from_utf8(text).unwrap_or("(not UTF-8)")
        );
        exit(false)
    }

    /// One hart, interrupts never enabled: nothing to mask.
    #[no_mangle]
    extern "C" fn ruv_temporal_critical_enter() -> u32 {
        0
    }

    #[no_mangle]
    extern "C" fn ruv_temporal_critical_exit(_token: u32) {}

    #[no_mangle]
    extern "C" fn trap_entry(mcause: u32, mepc: u32) -> ! {
        say!("TRAP mcause={mcause:#x} mepc={mepc:#x}");
        exit(false)
    }

    core::arch::global_asm!(
        ".section .text.start, \"ax\"",
        ".global _start",
        "_start:",
        "    la sp, _stack_top",
        "    la t0, _trap",
        "    csrw mtvec, t0",
        // FPU on (mstatus.FS = dirty), needed by the F extension build; harmless otherwise.
        "    li t0, 0x6000",
        "    csrs mstatus, t0",
        "    la t0, _bss_start",
        "    la t1, _bss_end",
        "1:  bgeu t0, t1, 2f",
        "    sw zero, 0(t0)",
        "    addi t0, t0, 4",
        "    j 1b",
        "2:  call main_entry",
        "3:  j 3b",
        ".align 4",
        "_trap:",
        "    csrr a0, mcause",
        "    csrr a1, mepc",
        "    call trap_entry",
    );

    extern "C" {
        static mut _stack_bottom: u32;
    }

    const PAINT: u32 = 0xA5C3_5A3C;

    fn stack_pointer() -> usize {
        let sp: usize;
        // SAFETY: reads sp.
        unsafe { core::arch::asm!("mv {0}, sp", out(reg) sp) };
        sp
    }

    /// Paints the free stack below the caller (leaving 512 bytes of margin).
    #[inline(never)]
    fn paint_stack() -> usize {
        let sp = stack_pointer();
        let bottom = &raw mut _stack_bottom as usize;
        let mut p = bottom;
        while p + 512 < sp {
            // SAFETY: unused stack memory below the current frame.
            unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
        sp
    }

    /// Bytes used below `sp` since the paint.
    fn stack_used_below(sp: usize) -> usize {
        let bottom = &raw mut _stack_bottom as usize;
        let mut p = bottom;
        // SAFETY: reads the stack region.
        while p < sp && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
            p += 4;
        }
        sp - p
    }

    /// The heap region: large enough for any context here; the program hands over only
    /// the required size.
    const REGION: usize = 2 * 1024 * 1024;
    static mut HEAP_REGION: [u8; REGION] = [0; REGION];

    fn required(model: &[u8], streaming: bool) -> usize {
        let mut need = 0usize;
        // SAFETY: valid buffers.
        let err = unsafe {
            if streaming {
                ruv_temporal_required_heap_streaming(
                    model.as_ptr(),
                    model.len(),
                    WINDOW as u32,
                    &mut need,
                )
            } else {
                ruv_temporal_required_heap(model.as_ptr(), model.len(), WINDOW as u32, &mut need)
            }
        };
        if err != ESP_OK {
            say!("required_heap failed: {err:#x}");
            exit(false);
        }
        need
    }

    fn last_error() -> [u8; 128] {
        let mut buf = [0u8; 128];
        // SAFETY: valid buffer.
        unsafe { ruv_temporal_last_error(core::ptr::null(), buf.as_mut_ptr().cast(), buf.len()) };
        buf
    }

    fn text(buf: &[u8]) -> &str {
        let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        core::str::from_utf8(&buf[..n]).unwrap_or("?")
    }

    struct Verdict {
        pass: bool,
    }

    impl Verdict {
        fn check(&mut self, ok: bool, what: &str) {
            if !ok {
                self.pass = false;
                say!("FAIL: {what}");
            }
        }
    }

    fn frame(t: usize) -> [f32; INPUT_DIM] {
        let mut f = [0.0f32; INPUT_DIM];
        for (j, v) in f.iter_mut().enumerate() {
            *v = frame_value(t, j);
        }
        f
    }

    fn window_case(
        v: &mut Verdict,
        name: &str,
        model: &[u8],
        expected: &[f32; N_CLASSES],
        macs: u64,
    ) {
        let mut ctx = core::ptr::null_mut();
        // Init loads the model and runs one warm-up pass on the caller's stack (on ESP-IDF,
        // the temporal task's fixed TEMPORAL_TASK_STACK, which must hold this figure).
        let sp = paint_stack();
        // SAFETY: valid buffers.
        let err = unsafe {
            ruv_temporal_init(
                model.as_ptr(),
                model.len(),
                INPUT_DIM as u32,
                WINDOW as u32,
                N_CLASSES as u32,
                &mut ctx,
            )
        };
        let init_stack = stack_used_below(sp);
        if err != ESP_OK {
            v.check(false, "init");
            say!("  init {name}: {err:#x} {}", text(&last_error()));
            return;
        }
        let heap = ruv_temporal_heap_used();
        for t in 0..WINDOW {
            let f = frame(t);
            // SAFETY: valid context and frame.
            v.check(
                unsafe { ruv_temporal_push(ctx, f.as_ptr()) } == ESP_OK,
                "push",
            );
        }
        let mut logits = [0.0f32; N_CLASSES];
        let sp = paint_stack();
        let before = instret();
        // SAFETY: valid context and buffer.
        let err = unsafe { ruv_temporal_classify(ctx, logits.as_mut_ptr(), N_CLASSES as u32) };
        let insns = instret() - before;
        let stack = stack_used_below(sp);
        v.check(err == ESP_OK, "classify");
        let mut worst = 0.0f32;
        for (g, w) in logits.iter().zip(expected) {
            let d = (g - w).abs();
            worst = if d > worst || d.is_nan() { d } else { worst };
        }
        v.check(worst <= 1e-4, "logits match the host model");
        // The push of one frame in window mode only stores it.
        let f = frame(WINDOW);
        let before = instret();
        // SAFETY: valid context and frame.
        let err = unsafe { ruv_temporal_push(ctx, f.as_ptr()) };
        let push_insns = instret() - before;
        v.check(err == ESP_OK, "push after window");
        say!(
            "window {name:4}: classify {insns} instructions ({macs} MAC, {:.1} instr/MAC) = {:.1} ms at 240 MHz; MAC estimate at 142 MMAC/s {:.1} ms; push {push_insns} instructions; stack {stack} B (init {init_stack} B); heap after init {heap} B; max |logit - host| {worst:e}",
            insns as f64 / macs as f64,
            insns as f64 / 240e3,
            macs as f64 / 142e3,
        );
        // SAFETY: from init.
        unsafe { ruv_temporal_destroy(ctx) };
    }

    /// Raw CSI through the on-device feature extractor, then window classify, for a model of
    /// `input_dim` features per frame (feature set 1, 3 or 4).
    fn csi_case(v: &mut Verdict, model: &[u8], input_dim: usize, expected: &[f32; N_CLASSES]) {
        let mut ctx = core::ptr::null_mut();
        // SAFETY: valid buffers.
        let err = unsafe {
            ruv_temporal_init(
                model.as_ptr(),
                model.len(),
                input_dim as u32,
                WINDOW as u32,
                N_CLASSES as u32,
                &mut ctx,
            )
        };
        if err != ESP_OK {
            v.check(false, "init for CSI");
            return;
        }
        let mut iq = [0i8; 128];
        let mut insns = 0;
        for t in 0..CSI_FRAMES {
            for (i, b) in iq.iter_mut().enumerate() {
                *b = iq_byte(t, i) as i8;
            }
            let before = instret();
            // SAFETY: valid context and buffer.
            let err = unsafe { ruv_temporal_push_csi(ctx, iq.as_ptr(), iq.len(), csi_ts(t)) };
            insns = instret() - before;
            v.check(err == ESP_OK, "push_csi");
        }
        let mut logits = [0.0f32; N_CLASSES];
        // SAFETY: valid context and buffer.
        let err = unsafe { ruv_temporal_classify(ctx, logits.as_mut_ptr(), N_CLASSES as u32) };
        v.check(err == ESP_OK, "classify after CSI");
        let mut worst = 0.0f32;
        for (g, w) in logits.iter().zip(expected) {
            let d = (g - w).abs();
            worst = if d > worst || d.is_nan() { d } else { worst };
        }
        v.check(worst <= 1e-4, "CSI logits match host features + host model");
        say!(
            "csi  f32 : push_csi (64 subcarriers -> {input_dim} features -> ring) {insns} instructions = {:.3} ms at 240 MHz; after {CSI_FRAMES} frames max |logit - host| {worst:e}",
            insns as f64 / 240e3
        );
        // SAFETY: from init.
        unsafe { ruv_temporal_destroy(ctx) };
    }

    fn streaming_case(v: &mut Verdict, name: &str, model: &[u8], macs_frame: u64) {
        let mut ctx = core::ptr::null_mut();
        // SAFETY: valid buffers.
        let err = unsafe {
            ruv_temporal_init_streaming(
                model.as_ptr(),
                model.len(),
                INPUT_DIM as u32,
                WINDOW as u32,
                N_CLASSES as u32,
                &mut ctx,
            )
        };
        if err != ESP_OK {
            v.check(false, "init_streaming");
            say!("  init_streaming {name}: {err:#x} {}", text(&last_error()));
            return;
        }
        let heap = ruv_temporal_heap_used();
        // Fill past the window so the measured frame slides one out, as in steady state.
        for t in 0..WINDOW + 8 {
            let f = frame(t);
            // SAFETY: valid context and frame.
            v.check(
                unsafe { ruv_temporal_push(ctx, f.as_ptr()) } == ESP_OK,
                "stream push",
            );
        }
        let f = frame(WINDOW + 8);
        let sp = paint_stack();
        let before = instret();
        // SAFETY: valid context and frame.
        let err = unsafe { ruv_temporal_push(ctx, f.as_ptr()) };
        let push_insns = instret() - before;
        let stack = stack_used_below(sp);
        v.check(err == ESP_OK, "stream push measured");
        let mut logits = [0.0f32; N_CLASSES];
        let before = instret();
        // SAFETY: valid context and buffer.
        let err = unsafe { ruv_temporal_classify(ctx, logits.as_mut_ptr(), N_CLASSES as u32) };
        let cls_insns = instret() - before;
        v.check(
            err == ESP_OK && logits.iter().all(|x| x.is_finite()),
            "stream classify",
        );
        say!(
            "stream {name:4}: one frame {push_insns} instructions ({macs_frame} MAC) = {:.3} ms at 240 MHz; MAC estimate {:.3} ms; classify {cls_insns} instructions; stack {stack} B; heap after init {heap} B",
            push_insns as f64 / 240e3,
            macs_frame as f64 / 142e3,
        );
        // SAFETY: from init.
        unsafe { ruv_temporal_destroy(ctx) };
    }

    #[no_mangle]
    extern "C" fn main_entry() -> ! {
        let mut v = Verdict { pass: true };
        let target = env!("RUV_QEMU_TARGET");
        say!("ruv-temporal-qemu on {target}");

        // Before any heap: init must fail cleanly with NO_MEM, not crash.
        let mut ctx = core::ptr::null_mut();
        // SAFETY: valid buffers.
        let err = unsafe {
            ruv_temporal_init(
                MODEL_F32.as_ptr(),
                MODEL_F32.len(),
                INPUT_DIM as u32,
                WINDOW as u32,
                N_CLASSES as u32,
                &mut ctx,
            )
        };
        v.check(
            err == ESP_ERR_NO_MEM && ctx.is_null(),
            "init without a heap region returns ESP_ERR_NO_MEM",
        );
        say!("init before heap_init: {err:#x} ({})", text(&last_error()));

        // One region for the whole run: the largest required_heap of the contexts below
        // (one context at a time; each is destroyed before the next).
        let need = [
            required(MODEL_F32, false),
            required(MODEL_INT8, false),
            required(MODEL_F32, true),
            required(MODEL_INT8, true),
            required(MODEL_CSI19, false),
            required(MODEL_CSI22, false),
        ];
        let region = need.iter().copied().max().unwrap_or(0);
        say!(
            "required_heap window f32 {} int8 {}; streaming f32 {} int8 {}; window f32 on feature set 3 {}, set 4 {}; region {region} B",
            need[0],
            need[1],
            need[2],
            need[3],
            need[4],
            need[5]
        );
        // SAFETY: the static region is used by nothing else.
        let err =
            unsafe { ruv_temporal_heap_init((&raw mut HEAP_REGION).cast(), region.min(REGION)) };
        v.check(err == ESP_OK, "heap_init");

        let before = instret();
        let err = ruv_temporal_kernel_self_test();
        let st = instret() - before;
        v.check(err == ESP_OK, "self-test");
        let detail = last_error();
        say!(
            "self-test: {} ({st} instructions) {}",
            if err == ESP_OK { "ok" } else { "FAILED" },
            if err == ESP_OK { "" } else { text(&detail) }
        );

        window_case(&mut v, "f32", MODEL_F32, &EXPECTED_F32, MACS_WINDOW_F32);
        window_case(&mut v, "int8", MODEL_INT8, &EXPECTED_INT8, MACS_WINDOW_INT8);
        csi_case(&mut v, MODEL_F32, INPUT_DIM, &EXPECTED_CSI_F32);
        csi_case(&mut v, MODEL_CSI19, 19, &EXPECTED_CSI19_F32);
        csi_case(&mut v, MODEL_CSI22, 22, &EXPECTED_CSI22_F32);
        streaming_case(&mut v, "f32", MODEL_F32, MACS_FRAME_F32);
        streaming_case(&mut v, "int8", MODEL_INT8, MACS_FRAME_INT8);
        v.check(
            ruv_temporal_heap_used() == 0,
            "all memory returned after destroy",
        );

        say!("VERDICT: {}", if v.pass { "PASS" } else { "FAIL" });
        exit(v.pass)
    }
}
