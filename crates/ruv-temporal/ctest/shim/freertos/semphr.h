#pragma once
#include <pthread.h>
#include "freertos/FreeRTOS.h"
/* A mutex (xSemaphoreCreateMutex: a flag; takes never block, as temporal_task.c only polls it)
 * or a binary semaphore (xSemaphoreCreateBinaryStatic: a real one; a take waits for a give
 * from another thread). */
struct shim_mutex {
    int taken;
    int binary;
    int count;
    pthread_mutex_t lock;
    pthread_cond_t given;
};
typedef struct shim_mutex *SemaphoreHandle_t;
typedef struct shim_mutex StaticSemaphore_t;
SemaphoreHandle_t xSemaphoreCreateMutex(void);
SemaphoreHandle_t xSemaphoreCreateBinaryStatic(StaticSemaphore_t *buf);
BaseType_t xSemaphoreTake(SemaphoreHandle_t m, TickType_t wait);
BaseType_t xSemaphoreGive(SemaphoreHandle_t m);
void vSemaphoreDelete(SemaphoreHandle_t m);
