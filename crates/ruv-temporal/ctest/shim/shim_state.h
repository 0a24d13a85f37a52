/* What the FreeRTOS shim records for the test to inspect. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
typedef struct {
    TaskFunction_t fn;
    const char *name;
    uint32_t stack_bytes;
    void *arg;
    UBaseType_t priority;
    BaseType_t core;
} shim_task_record_t;
extern shim_task_record_t shim_last_task;
extern UBaseType_t shim_last_queue_depth;
extern UBaseType_t shim_last_queue_item_size;
extern int shim_queues_created;
extern int shim_fail_task_create;
/* Whether the last task created is alive: waits until its thread has either parked at its
 * first queue wait (alive: 1) or returned after deleting itself (0). */
int shim_last_task_alive(void);
/* Tasks created; calls of ruv_temporal_model_dims, ruv_temporal_init and the kernel self-test
 * (temporal_task.c is compiled with -D renames to the shim's wrappers; test_task.c's own calls
 * count too), how many of them ran on a task's thread, and the self-tests alone. */
extern int shim_tasks_created, shim_lib_calls, shim_lib_calls_on_task, shim_self_tests;
/* Make the kernel self-test the task runs fail. */
extern int shim_fail_self_test;
extern int64_t shim_time_us;
/* heap_caps_malloc calls and the last size (esp_heap_caps.h). */
extern int shim_heap_caps_mallocs;
extern size_t shim_heap_caps_last_size;
/* The caps of the last allocation; allocations asking for any of shim_heap_caps_fail_caps fail
 * and are counted in shim_heap_caps_refused (esp_heap_caps.h: MALLOC_CAP_*). */
extern uint32_t shim_heap_caps_last_caps;
extern uint32_t shim_heap_caps_fail_caps;
extern int shim_heap_caps_refused;
/* Free internal RAM as heap_caps_get_free_size reports it (default 1 MiB). */
extern size_t shim_heap_caps_internal_free;
/* The region variant (SHIM_VARIANT_PARTITION_REGION): ruv_temporal_heap_init calls, and the
 * bytes the "temporal" data partition holds (NULL: no such partition). */
extern int shim_heap_inits;
extern const uint8_t *shim_partition_data;
extern size_t shim_partition_size;
