#pragma once
#include "freertos/FreeRTOS.h"
typedef struct shim_task *TaskHandle_t;
typedef void (*TaskFunction_t)(void *);
BaseType_t xTaskCreatePinnedToCore(TaskFunction_t fn, const char *name, uint32_t stack_bytes,
                                   void *arg, UBaseType_t priority, TaskHandle_t *out,
                                   BaseType_t core);
void vTaskDelete(TaskHandle_t t);
TickType_t xTaskGetTickCount(void);
/* Bytes on ESP-IDF (StackType_t is a byte there); the shim returns shim_stack_free. */
UBaseType_t uxTaskGetStackHighWaterMark(TaskHandle_t t);
