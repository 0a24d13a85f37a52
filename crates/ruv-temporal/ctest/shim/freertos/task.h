#pragma once
#include "freertos/FreeRTOS.h"
typedef struct shim_task *TaskHandle_t;
typedef void (*TaskFunction_t)(void *);
/* The task runs on a thread of its own; see freertos_shim.c for where it parks. */
BaseType_t xTaskCreatePinnedToCore(TaskFunction_t fn, const char *name, uint32_t stack_bytes,
                                   void *arg, UBaseType_t priority, TaskHandle_t *out,
                                   BaseType_t core);
void vTaskDelete(TaskHandle_t t);
TickType_t xTaskGetTickCount(void);
