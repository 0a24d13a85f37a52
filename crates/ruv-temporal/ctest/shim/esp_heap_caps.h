/* Host shim of the heap_caps API (malloc underneath). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#define MALLOC_CAP_8BIT (1u << 2)
#define MALLOC_CAP_INTERNAL (1u << 11)
#define MALLOC_CAP_SPIRAM (1u << 10)
/* Counted, so a test can see whether (and how much, and where) the component set aside. An
 * allocation asking for any of shim_heap_caps_fail_caps fails (a board without PSRAM) and is
 * counted in shim_heap_caps_refused instead. */
extern int shim_heap_caps_mallocs;
extern size_t shim_heap_caps_last_size;
extern uint32_t shim_heap_caps_last_caps;
extern uint32_t shim_heap_caps_fail_caps;
extern int shim_heap_caps_refused;
/* What heap_caps_get_free_size reports for internal RAM (a test lowers it). */
extern size_t shim_heap_caps_internal_free;
static inline void *heap_caps_malloc(size_t size, uint32_t caps)
{
    if (caps & shim_heap_caps_fail_caps) {
        shim_heap_caps_refused++;
        return NULL;
    }
    shim_heap_caps_mallocs++;
    shim_heap_caps_last_size = size;
    shim_heap_caps_last_caps = caps;
    return malloc(size);
}
static inline void heap_caps_free(void *p) { free(p); }
static inline size_t heap_caps_get_free_size(uint32_t caps)
{
    return (caps & MALLOC_CAP_INTERNAL) ? shim_heap_caps_internal_free : 1u << 20;
}
static inline size_t heap_caps_get_largest_free_block(uint32_t caps) { (void)caps; return 1u << 19; }
static inline void *heap_caps_aligned_alloc(size_t align, size_t size, uint32_t caps)
{
    (void)caps;
    return aligned_alloc(align, (size + align - 1) / align * align);
}
