/* Host implementation of the FreeRTOS shim. A created task runs on a thread of its own until
 * its first queue wait, where it parks until deleted: its start (model load, self-test) runs
 * concurrently with the starter, as on the chip, and from then on the test drives the task
 * loop itself (temporal_task_service), so the frame-by-frame checks stay deterministic. */
#include <pthread.h>
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
int shim_fail_self_test;
int shim_lib_calls, shim_lib_calls_on_task, shim_self_tests, shim_tasks_created;

/* Set on a task's thread. */
static _Thread_local struct shim_task *s_self;

static void count_lib_call(void)
{
    shim_lib_calls++;
    shim_lib_calls_on_task += s_self != NULL;
}

/* temporal_task.c is compiled with -Druv_temporal_kernel_self_test=shim_kernel_self_test,
 * -Druv_temporal_init=shim_temporal_init and -Druv_temporal_model_dims=shim_model_dims, so a
 * test can make the kernel self-test fail and see which thread made each call; otherwise
 * these are the library's own. */
#undef ruv_temporal_kernel_self_test
#undef ruv_temporal_init
#undef ruv_temporal_model_dims
#include "ruv_temporal.h"
esp_err_t shim_kernel_self_test(void)
{
    count_lib_call();
    shim_self_tests++;
    return shim_fail_self_test ? ESP_FAIL : ruv_temporal_kernel_self_test();
}

esp_err_t shim_temporal_init(const uint8_t *weights, size_t weights_len, uint32_t input_dim,
                             uint32_t window_len, uint32_t n_classes, ruv_temporal_ctx_t **out)
{
    count_lib_call();
    return ruv_temporal_init(weights, weights_len, input_dim, window_len, n_classes, out);
}

esp_err_t shim_model_dims(const uint8_t *weights, size_t weights_len, uint32_t *input_dim,
                          uint32_t *n_classes, uint32_t *window_len)
{
    count_lib_call();
    return ruv_temporal_model_dims(weights, weights_len, input_dim, n_classes, window_len);
}

int shim_heap_caps_mallocs;
size_t shim_heap_caps_last_size;
uint32_t shim_heap_caps_last_caps;
uint32_t shim_heap_caps_fail_caps;
int shim_heap_caps_refused;
size_t shim_heap_caps_internal_free = 1u << 20;
int shim_heap_inits;
const uint8_t *shim_partition_data;
size_t shim_partition_size;

#ifdef SHIM_VARIANT_PARTITION_REGION
#include "esp_partition.h"
/* The host library allocates with the system allocator; the region variant compiles
 * temporal_task.c with -Druv_temporal_heap_init=shim_heap_init and counts the hand-over. */
esp_err_t shim_heap_init(uint8_t *region, size_t len)
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

enum { TASK_RUNNING, TASK_PARKED, TASK_ENDED };

struct shim_task {
    pthread_t thread;
    TaskFunction_t fn;
    void *arg;
    int state;  /* TASK_*, under s_task_lock */
    int stop;   /* deleted by another thread: leave the park */
    int joined;
};

static pthread_mutex_t s_task_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_task_changed = PTHREAD_COND_INITIALIZER;

static void set_state(struct shim_task *t, int state)
{
    pthread_mutex_lock(&s_task_lock);
    t->state = state;
    pthread_cond_broadcast(&s_task_changed);
    pthread_mutex_unlock(&s_task_lock);
}

/* On the task's thread: park until deleted, then end the thread. */
static void park(struct shim_task *t)
{
    pthread_mutex_lock(&s_task_lock);
    t->state = TASK_PARKED;
    pthread_cond_broadcast(&s_task_changed);
    while (!t->stop) {
        pthread_cond_wait(&s_task_changed, &s_task_lock);
    }
    t->state = TASK_ENDED;
    pthread_cond_broadcast(&s_task_changed);
    pthread_mutex_unlock(&s_task_lock);
    pthread_exit(NULL);
}

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
    if (s_self != NULL) {
        park(s_self);
    }
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

SemaphoreHandle_t xSemaphoreCreateBinaryStatic(StaticSemaphore_t *buf)
{
    memset(buf, 0, sizeof *buf);
    buf->binary = 1;
    pthread_mutex_init(&buf->lock, NULL);
    pthread_cond_init(&buf->given, NULL);
    return buf;
}

BaseType_t xSemaphoreTake(SemaphoreHandle_t m, TickType_t wait)
{
    if (m->binary) {
        pthread_mutex_lock(&m->lock);
        while (m->count == 0 && wait != 0) {
            pthread_cond_wait(&m->given, &m->lock); /* every wait here is portMAX_DELAY */
        }
        BaseType_t got = m->count != 0 ? pdTRUE : pdFALSE;
        m->count = 0;
        pthread_mutex_unlock(&m->lock);
        return got;
    }
    if (m->taken) {
        return pdFALSE;
    }
    m->taken = 1;
    return pdTRUE;
}

BaseType_t xSemaphoreGive(SemaphoreHandle_t m)
{
    if (m->binary) {
        pthread_mutex_lock(&m->lock);
        m->count = 1;
        pthread_cond_signal(&m->given);
        pthread_mutex_unlock(&m->lock);
        return pdTRUE;
    }
    m->taken = 0;
    return pdTRUE;
}

void vSemaphoreDelete(SemaphoreHandle_t m)
{
    free(m);
}

static struct shim_task s_task_storage;
static int s_task_created;

static void *task_thread(void *p)
{
    struct shim_task *t = p;
    s_self = t;
    t->fn(t->arg);
    set_state(t, TASK_ENDED); /* returned after vTaskDelete(NULL) */
    return NULL;
}

/* Waits until the last task has parked (unless it was asked to stop) or ended, and joins it
 * if it ended. */
static int settle_last_task(void)
{
    struct shim_task *t = &s_task_storage;
    if (!s_task_created) {
        return TASK_ENDED;
    }
    pthread_mutex_lock(&s_task_lock);
    while (t->state == TASK_RUNNING || (t->stop && t->state != TASK_ENDED)) {
        pthread_cond_wait(&s_task_changed, &s_task_lock);
    }
    int state = t->state;
    pthread_mutex_unlock(&s_task_lock);
    if (state == TASK_ENDED && !t->joined) {
        pthread_join(t->thread, NULL);
        t->joined = 1;
    }
    return state;
}

int shim_last_task_alive(void)
{
    return settle_last_task() == TASK_PARKED;
}

BaseType_t xTaskCreatePinnedToCore(TaskFunction_t fn, const char *name, uint32_t stack_bytes,
                                   void *arg, UBaseType_t priority, TaskHandle_t *out,
                                   BaseType_t core)
{
    if (shim_fail_task_create) {
        return pdFALSE;
    }
    if (settle_last_task() == TASK_PARKED) {
        abort(); /* one task at a time: temporal_task.c starts a second one only after stop */
    }
    shim_last_task.fn = fn;
    shim_last_task.name = name;
    shim_last_task.stack_bytes = stack_bytes;
    shim_last_task.arg = arg;
    shim_last_task.priority = priority;
    shim_last_task.core = core;
    struct shim_task *t = &s_task_storage;
    memset(t, 0, sizeof *t);
    t->fn = fn;
    t->arg = arg;
    t->state = TASK_RUNNING;
    /* FreeRTOS writes the handle before the new task can run. */
    *out = t;
    if (pthread_create(&t->thread, NULL, task_thread, t) != 0) {
        return pdFALSE;
    }
    s_task_created = 1;
    shim_tasks_created++;
    return pdPASS;
}

void vTaskDelete(TaskHandle_t t)
{
    if (t == NULL || t == s_self) {
        return; /* the task function returns next; task_thread marks it ended */
    }
    pthread_mutex_lock(&s_task_lock);
    t->stop = 1;
    pthread_cond_broadcast(&s_task_changed);
    pthread_mutex_unlock(&s_task_lock);
    settle_last_task();
}

TickType_t xTaskGetTickCount(void)
{
    return shim_ticks;
}
