/* Host implementation of the FreeRTOS shim (single-threaded; the test drives the task loop). */
#include <stdlib.h>
#include <string.h>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "shim_state.h"

TickType_t shim_ticks;
int64_t shim_time_us;
shim_task_record_t shim_last_task;
int shim_fail_task_create;
int shim_run_task_on_create;
int shim_fail_self_test;

/* temporal_task.c is compiled with -Druv_temporal_kernel_self_test=shim_kernel_self_test, so a
 * test can make the kernel self-test fail; otherwise this is the library's own. */
#undef ruv_temporal_kernel_self_test
esp_err_t ruv_temporal_kernel_self_test(void);
esp_err_t shim_kernel_self_test(void)
{
    return shim_fail_self_test ? ESP_FAIL : ruv_temporal_kernel_self_test();
}

UBaseType_t shim_stack_free = 16384;

UBaseType_t uxTaskGetStackHighWaterMark(TaskHandle_t t)
{
    (void)t;
    return shim_stack_free;
}

int shim_heap_caps_mallocs;
size_t shim_heap_caps_last_size;
uint32_t shim_heap_caps_last_caps;
uint32_t shim_heap_caps_fail_caps;
int shim_heap_caps_refused;
int shim_heap_inits;
const uint8_t *shim_partition_data;
size_t shim_partition_size;

#ifdef SHIM_VARIANT_PARTITION_REGION
#include "esp_partition.h"
/* The host library allocates with the system allocator; the region variant compiles
 * temporal_task.c with -Druv_temporal_heap_init=shim_heap_init and counts the hand-over. */
esp_err_t shim_heap_init(void *region, size_t len)
{
    if (region == NULL || len == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    shim_heap_inits++;
    return ESP_OK;
}

static esp_partition_t s_partition;

const esp_partition_t *esp_partition_find_first(esp_partition_type_t type,
                                                esp_partition_subtype_t subtype, const char *label)
{
    (void)subtype;
    if (shim_partition_data == NULL || type != ESP_PARTITION_TYPE_DATA ||
        strcmp(label, "temporal") != 0) {
        return NULL;
    }
    s_partition.type = type;
    s_partition.size = (uint32_t)shim_partition_size;
    strcpy(s_partition.label, "temporal");
    return &s_partition;
}

esp_err_t esp_partition_mmap(const esp_partition_t *partition, size_t offset, size_t size,
                             esp_partition_mmap_memory_t memory, const void **out_ptr,
                             esp_partition_mmap_handle_t *out_handle)
{
    (void)memory;
    if (partition != &s_partition || offset > partition->size ||
        size > partition->size - offset) {
        return ESP_ERR_INVALID_ARG;
    }
    *out_ptr = shim_partition_data + offset;
    *out_handle = 1;
    return ESP_OK;
}
#endif

struct shim_queue {
    UBaseType_t depth, item_size, head, count;
    unsigned char *items;
};

struct shim_mutex {
    int taken;
};

struct shim_task {
    int unused;
};

QueueHandle_t xQueueCreate(UBaseType_t depth, UBaseType_t item_size)
{
    QueueHandle_t q = calloc(1, sizeof *q);
    if (q == NULL) {
        return NULL;
    }
    q->depth = depth;
    q->item_size = item_size;
    q->items = malloc((size_t)depth * item_size);
    if (q->items == NULL) {
        free(q);
        return NULL;
    }
    shim_queues_created++;
    shim_last_queue_depth = depth;
    shim_last_queue_item_size = item_size;
    return q;
}

UBaseType_t shim_last_queue_depth;
int shim_queues_created;
UBaseType_t shim_last_queue_item_size;

BaseType_t xQueueSend(QueueHandle_t q, const void *item, TickType_t wait)
{
    (void)wait;
    if (q->count == q->depth) {
        return errQUEUE_FULL;
    }
    UBaseType_t slot = (q->head + q->count) % q->depth;
    memcpy(q->items + (size_t)slot * q->item_size, item, q->item_size);
    q->count++;
    return pdTRUE;
}

BaseType_t xQueueReceive(QueueHandle_t q, void *item, TickType_t wait)
{
    if (q->count == 0) {
        shim_ticks += wait; /* the wait elapses */
        return pdFALSE;
    }
    memcpy(item, q->items + (size_t)q->head * q->item_size, q->item_size);
    q->head = (q->head + 1) % q->depth;
    q->count--;
    return pdTRUE;
}

void vQueueDelete(QueueHandle_t q)
{
    if (q != NULL) {
        free(q->items);
        free(q);
    }
}

SemaphoreHandle_t xSemaphoreCreateMutex(void)
{
    return calloc(1, sizeof(struct shim_mutex));
}

BaseType_t xSemaphoreTake(SemaphoreHandle_t m, TickType_t wait)
{
    (void)wait;
    if (m->taken) {
        return pdFALSE;
    }
    m->taken = 1;
    return pdTRUE;
}

BaseType_t xSemaphoreGive(SemaphoreHandle_t m)
{
    m->taken = 0;
    return pdTRUE;
}

void vSemaphoreDelete(SemaphoreHandle_t m)
{
    free(m);
}

static struct shim_task s_task_storage;

BaseType_t xTaskCreatePinnedToCore(TaskFunction_t fn, const char *name, uint32_t stack_bytes,
                                   void *arg, UBaseType_t priority, TaskHandle_t *out,
                                   BaseType_t core)
{
    if (shim_fail_task_create) {
        return pdFALSE;
    }
    shim_last_task.fn = fn;
    shim_last_task.name = name;
    shim_last_task.stack_bytes = stack_bytes;
    shim_last_task.arg = arg;
    shim_last_task.priority = priority;
    shim_last_task.core = core;
    shim_last_task.alive = 1;
    /* FreeRTOS writes the handle before the new task can run. */
    *out = &s_task_storage;
    if (shim_run_task_on_create) {
        fn(arg); /* only for a task that returns (the self-test failure path) */
    }
    return pdPASS;
}

void vTaskDelete(TaskHandle_t t)
{
    (void)t;
    shim_last_task.alive = 0;
}

TickType_t xTaskGetTickCount(void)
{
    return shim_ticks;
}
