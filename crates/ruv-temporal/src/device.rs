//! Bare-metal runtime (`target_os = "none"`): global allocator, panic handler, critical section.
//!
//! What the firmware provides (the ESP-IDF component's `shim.c` does):
//! - `ruv_temporal_panic_hook(msg, len)`: never returns; the shim's default calls
//!   `esp_system_abort` so the chip resets with the message instead of hanging (spec §3.6);
//! - `ruv_temporal_critical_enter() -> u32` / `ruv_temporal_critical_exit(u32)`: guards the heap;
//! - with feature `device-heap-caps`: `ruv_temporal_heap_caps_alloc(align, size)` and
//!   `ruv_temporal_heap_caps_free(ptr)`.
//!
//! The default allocator is one region handed over with [`ruv_temporal_heap_init`]; size it
//! with `ruv_temporal_required_heap`.

use core::fmt::Write;

// Hooks the firmware provides (bare-metal builds only; hosts never reference them).
extern "C" {
    /// Firmware hook (bare-metal builds): called by the library's panic handler with the
    /// message (not NUL-terminated); must not return. The component's shim.c defaults to
    /// esp_system_abort.
    pub fn ruv_temporal_panic_hook(msg: *const u8, len: usize) -> !;
    /// Firmware hook (bare-metal builds): enter the critical section guarding the library's
    /// heap; the value is passed to ruv_temporal_critical_exit.
    pub fn ruv_temporal_critical_enter() -> u32;
    /// Firmware hook (bare-metal builds): leave the critical section.
    pub fn ruv_temporal_critical_exit(token: u32);
}

struct HookCriticalSection;
critical_section::set_impl!(HookCriticalSection);

// SAFETY: the firmware's hooks implement a critical section (interrupts masked and, on
// multi-core parts, a spinlock), which is what critical-section requires.
unsafe impl critical_section::Impl for HookCriticalSection {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        // SAFETY: firmware hook with no preconditions.
        unsafe { ruv_temporal_critical_enter() }
    }
    unsafe fn release(token: critical_section::RawRestoreState) {
        // SAFETY: `token` came from the matching acquire.
        unsafe { ruv_temporal_critical_exit(token) }
    }
}

/// A panic message cut to a fixed buffer (no allocation while panicking).
struct PanicText {
    buf: [u8; 120],
    len: usize,
}

impl Write for PanicText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut text = PanicText {
        buf: [0; 120],
        len: 0,
    };
    let _ = write!(text, "{}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(text, " at {}:{}", loc.file(), loc.line());
    }
    // SAFETY: the hook is provided by the firmware and reads exactly `len` bytes.
    unsafe { ruv_temporal_panic_hook(text.buf.as_ptr(), text.len) }
}

#[cfg(not(feature = "device-heap-caps"))]
mod region {
    use crate::status::*;
    use core::sync::atomic::{AtomicBool, Ordering};

    #[global_allocator]
    static HEAP: embedded_alloc::LlffHeap = embedded_alloc::LlffHeap::empty();
    static READY: AtomicBool = AtomicBool::new(false);

    /// Smallest region accepted (the allocator's own bookkeeping needs a few words).
    const MIN_REGION: usize = 64;

    /// See `ruv_temporal_heap_init`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be writable memory used by nothing else, for the rest of the run.
    pub unsafe fn heap_init(ptr: *mut u8, len: usize) -> esp_err_t {
        if ptr.is_null() {
            return ESP_ERR_INVALID_ARG;
        }
        if len < MIN_REGION {
            return ESP_ERR_INVALID_SIZE;
        }
        let first = critical_section::with(|_| {
            let was = READY.load(Ordering::Relaxed);
            READY.store(true, Ordering::Relaxed);
            !was
        });
        if !first {
            return ESP_ERR_INVALID_STATE;
        }
        // SAFETY: the region is valid and exclusively ours per the caller's contract; READY
        // guarantees init runs once.
        unsafe { HEAP.init(ptr as usize, len) };
        ESP_OK
    }

    /// Bytes still free in the region (0 before `ruv_temporal_heap_init`).
    pub fn free_bytes() -> Option<usize> {
        Some(if READY.load(Ordering::Relaxed) {
            HEAP.free()
        } else {
            0
        })
    }

    /// Bytes in use in the region.
    pub fn used_bytes() -> usize {
        if READY.load(Ordering::Relaxed) {
            HEAP.used()
        } else {
            0
        }
    }
}

#[cfg(feature = "device-heap-caps")]
mod heap_caps {
    use crate::status::*;
    use core::alloc::{GlobalAlloc, Layout};

    extern "C" {
        /// Firmware hook (feature device-heap-caps): `align`-aligned block of `size` bytes or
        /// NULL (shim.c: heap_caps_aligned_alloc).
        pub fn ruv_temporal_heap_caps_alloc(align: usize, size: usize) -> *mut core::ffi::c_void;
        /// Firmware hook (feature device-heap-caps): frees a block from the hook above.
        pub fn ruv_temporal_heap_caps_free(ptr: *mut core::ffi::c_void);
        /// Firmware hook (feature device-heap-caps): bytes the allocator above can still hand
        /// out (shim.c: heap_caps_get_free_size of the same capabilities).
        pub fn ruv_temporal_heap_caps_free_size() -> usize;
    }

    struct HeapCaps;

    // SAFETY: forwards to ESP-IDF's allocator, which returns `align`-aligned blocks of `size`
    // bytes or NULL, and frees what it returned.
    unsafe impl GlobalAlloc for HeapCaps {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: firmware hook; returns NULL on failure as GlobalAlloc allows.
            unsafe { ruv_temporal_heap_caps_alloc(layout.align().max(4), layout.size()).cast() }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
            // SAFETY: `ptr` came from alloc above.
            unsafe { ruv_temporal_heap_caps_free(ptr.cast()) }
        }
    }

    #[global_allocator]
    static HEAP: HeapCaps = HeapCaps;

    /// With the heap_caps allocator there is no region: always `ESP_ERR_NOT_SUPPORTED`.
    ///
    /// # Safety
    /// Trivially safe; `unsafe` only to keep one signature for both allocators.
    pub unsafe fn heap_init(_ptr: *mut u8, _len: usize) -> esp_err_t {
        ESP_ERR_NOT_SUPPORTED
    }

    /// Free bytes of the heap_caps capabilities the allocator uses, so init refuses a model
    /// that cannot fit with `ESP_ERR_NO_MEM` instead of failing an allocation (which panics:
    /// on the device a reset, at every boot). Fragmentation can still fail a large block.
    pub fn free_bytes() -> Option<usize> {
        // SAFETY: firmware hook without arguments.
        Some(unsafe { ruv_temporal_heap_caps_free_size() })
    }

    /// Not tracked with heap_caps.
    pub fn used_bytes() -> usize {
        0
    }
}

#[cfg(feature = "device-heap-caps")]
pub use heap_caps::{free_bytes, heap_init, used_bytes};
#[cfg(not(feature = "device-heap-caps"))]
pub use region::{free_bytes, heap_init, used_bytes};
