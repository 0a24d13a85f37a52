/*
 * What the Rust library needs from the firmware on the device (target_os = "none"):
 * - ruv_temporal_panic_hook: called by the library's panic handler with the message; the
 *   default here aborts through esp_system_abort, so the chip resets with the message in the
 *   panic log and core dump instead of hanging. Firmware may provide its own (strong) symbol.
 * - ruv_temporal_critical_enter/exit: the critical section that guards the library's heap
 *   region (a spinlock that also masks interrupts on this core).
 * - ruv_temporal_heap_caps_alloc/free/free_size: only used with the heap_caps allocator
 *   (Kconfig); free_size lets init refuse a model that cannot fit (ESP_ERR_NO_MEM).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "ruv_temporal.h"
#include "sdkconfig.h"

__attribute__((weak, noreturn)) void ruv_temporal_panic_hook(const uint8_t *msg, size_t len)
{
    static char text[160];
    static const char prefix[] = "ruv_temporal panic: ";
    size_t n = sizeof prefix - 1;
    memcpy(text, prefix, n);
    if (len > sizeof text - n - 1) {
        len = sizeof text - n - 1;
    }
    if (msg != NULL) {
        memcpy(text + n, msg, len);
        n += len;
    }
    text[n] = '\0';
    esp_system_abort(text);
}

static portMUX_TYPE s_heap_lock = portMUX_INITIALIZER_UNLOCKED;

uint32_t ruv_temporal_critical_enter(void)
{
    portENTER_CRITICAL(&s_heap_lock);
    return 0;
}

void ruv_temporal_critical_exit(uint32_t token)
{
    (void)token;
    portEXIT_CRITICAL(&s_heap_lock);
}

#ifdef CONFIG_TEMPORAL_HEAP_SPIRAM
#define RUV_TEMPORAL_CAPS (MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT)
#else
#define RUV_TEMPORAL_CAPS (MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT)
#endif

void *ruv_temporal_heap_caps_alloc(size_t align, size_t size)
{
    return heap_caps_aligned_alloc(align, size, RUV_TEMPORAL_CAPS);
}

void ruv_temporal_heap_caps_free(void *ptr)
{
    heap_caps_free(ptr);
}

size_t ruv_temporal_heap_caps_free_size(void)
{
    return heap_caps_get_free_size(RUV_TEMPORAL_CAPS);
}
