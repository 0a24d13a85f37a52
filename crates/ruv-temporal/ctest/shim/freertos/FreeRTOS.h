/* Host shim of the FreeRTOS subset temporal_task.c uses: a real bounded queue, a mutex flag,
 * a fake tick counter driven by the test, and a task table that records creation arguments. */
#pragma once
#include <stddef.h>
#include <stdint.h>
typedef uint32_t TickType_t;
typedef int BaseType_t;
typedef unsigned int UBaseType_t;
#define pdTRUE 1
#define pdFALSE 0
#define pdPASS 1
#define errQUEUE_FULL 0
#define pdMS_TO_TICKS(ms) ((TickType_t)(ms)) /* configTICK_RATE_HZ = 1000 */
#define portMAX_DELAY 0xFFFFFFFFu
extern TickType_t shim_ticks;
/* Critical sections (shim.c): a spinlock type and the enter/exit macros. */
typedef struct {
    int locked;
} portMUX_TYPE;
#define portMUX_INITIALIZER_UNLOCKED {0}
#define portENTER_CRITICAL(mux) ((mux)->locked = 1)
#define portEXIT_CRITICAL(mux) ((mux)->locked = 0)
