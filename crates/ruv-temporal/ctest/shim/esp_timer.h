/* Host shim: esp_timer_get_time returns the time the test set. */
#pragma once
#include <stdint.h>
extern int64_t shim_time_us;
static inline int64_t esp_timer_get_time(void) { return shim_time_us; }
