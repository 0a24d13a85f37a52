/* What the FreeRTOS shim records for the test to inspect. */
#pragma once
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
typedef struct {
    TaskFunction_t fn;
    const char *name;
    uint32_t stack_bytes;
    void *arg;
    UBaseType_t priority;
    BaseType_t core;
    int alive;
} shim_task_record_t;
extern shim_task_record_t shim_last_task;
extern UBaseType_t shim_last_queue_depth;
extern UBaseType_t shim_last_queue_item_size;
extern int shim_fail_task_create;
extern int64_t shim_time_us;
