#pragma once
#include "freertos/FreeRTOS.h"
typedef struct shim_queue *QueueHandle_t;
QueueHandle_t xQueueCreate(UBaseType_t depth, UBaseType_t item_size);
BaseType_t xQueueSend(QueueHandle_t q, const void *item, TickType_t wait);
BaseType_t xQueueReceive(QueueHandle_t q, void *item, TickType_t wait);
void vQueueDelete(QueueHandle_t q);
